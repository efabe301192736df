//! TwiML documents (spec section 3): a generic [`Element`] tree plus typed builders for the
//! verbs a voice agent uses.
//!
//! Typed builders only set attributes; anything they lack is reachable through `.attr(..)`
//! (every builder has it) or by building an [`Element`] directly, so a new Twilio attribute
//! never blocks us. Output is compact (no whitespace between elements) because whitespace
//! inside `<Say>` would be spoken.
//!
//! ```
//! use telephony::twiml::{Response, Say, Hangup};
//! let xml = Response::new()
//!     .push(Say::new("Goodbye & thanks!").voice("Polly.Joanna-Neural"))
//!     .push(Hangup::new())
//!     .to_xml();
//! assert!(xml.ends_with("<Say voice=\"Polly.Joanna-Neural\">Goodbye &amp; thanks!</Say><Hangup/></Response>"));
//! ```

/// `Content-Type` to answer a voice webhook with.
pub const TWIML_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// A child of an element: a nested element or a run of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A nested element.
    Element(Element),
    /// Character data (escaped on output).
    Text(String),
}

/// A generic XML element: name, attributes in insertion order, children in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

impl Element {
    /// An empty element named `name` (case-sensitive, e.g. `Say`).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Sets attribute `name`, replacing an earlier value in place (keeps first-set order).
    pub fn attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        match self.attrs.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name, value)),
        }
        self
    }

    /// Appends a text node.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// Appends a child element.
    pub fn child(mut self, child: impl Into<Element>) -> Self {
        self.children.push(Node::Element(child.into()));
        self
    }

    /// The element name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Attributes in the order they were first set.
    pub fn attrs(&self) -> &[(String, String)] {
        &self.attrs
    }

    /// The value of attribute `name`, if set.
    pub fn get_attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Children in document order.
    pub fn children(&self) -> &[Node] {
        &self.children
    }

    /// Serializes this element (no declaration) onto `out`.
    pub fn write_xml(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (name, value) in &self.attrs {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape_into(value, true, out);
            out.push('"');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for child in &self.children {
            match child {
                Node::Element(element) => element.write_xml(out),
                Node::Text(text) => escape_into(text, false, out),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// Escapes XML metacharacters and drops characters XML 1.0 forbids (LLM output can contain
/// stray control characters, and one of them makes Twilio reject the whole document: 12100).
fn escape_into(text: &str, in_attribute: bool, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Attribute-value normalization would turn raw newlines/tabs into spaces.
            '\n' if in_attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if in_attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(ch),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// A TwiML document: `<Response>` and its verbs, executed top to bottom.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    verbs: Vec<Element>,
}

impl Response {
    /// An empty `<Response/>` (Twilio hangs up when it reaches the end).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a verb (any typed builder or a raw [`Element`]).
    pub fn push(mut self, verb: impl Into<Element>) -> Self {
        self.verbs.push(verb.into());
        self
    }

    /// The verbs in order.
    pub fn verbs(&self) -> &[Element] {
        &self.verbs
    }

    /// The document as sent to Twilio, starting with the XML declaration.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str(XML_DECLARATION);
        let mut root = Element::new("Response");
        root.children = self.verbs.iter().cloned().map(Node::Element).collect();
        root.write_xml(&mut out);
        out
    }
}

/// Declares a typed builder wrapping an [`Element`] named like the struct.
macro_rules! builder {
    ($(#[$doc:meta])* $ty:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty(Element);

        impl $ty {
            /// Sets any attribute, including ones without a typed setter.
            pub fn attr(self, name: impl Into<String>, value: impl Into<String>) -> Self {
                Self(self.0.attr(name, value))
            }
        }

        impl From<$ty> for Element {
            fn from(builder: $ty) -> Element {
                builder.0
            }
        }
    };
}

/// Typed attribute setters: `method: kind = "wireName"`, kind is `str`, `u32` or `bool`.
macro_rules! setters {
    ($ty:ident { $($method:ident : $kind:ident = $wire:literal),* $(,)? }) => {
        impl $ty {
            $( setters!(@one $method $kind $wire); )*
        }
    };
    (@one $method:ident str $wire:literal) => {
        #[doc = concat!("Sets the `", $wire, "` attribute.")]
        pub fn $method(self, value: impl Into<String>) -> Self {
            self.attr($wire, value)
        }
    };
    (@one $method:ident u32 $wire:literal) => {
        #[doc = concat!("Sets the `", $wire, "` attribute.")]
        pub fn $method(self, value: u32) -> Self {
            self.attr($wire, value.to_string())
        }
    };
    (@one $method:ident bool $wire:literal) => {
        #[doc = concat!("Sets the `", $wire, "` attribute (`true`/`false`).")]
        pub fn $method(self, value: bool) -> Self {
            self.attr($wire, if value { "true" } else { "false" })
        }
    };
}

/// Declares `$method(child)` appending a typed child builder.
macro_rules! child_adders {
    ($ty:ident { $($method:ident($child:ident)),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Appends a nested `<", stringify!($child), ">`.")]
                pub fn $method(self, child: $child) -> Self {
                    Self(self.0.child(child))
                }
            )*
        }
    };
}

/// Declares `parameter(name, value)` appending `<Parameter name value/>`.
macro_rules! parameter_adder {
    ($ty:ident) => {
        impl $ty {
            /// Appends `<Parameter name=".." value=".."/>` (custom data delivered to the peer).
            pub fn parameter(self, name: impl Into<String>, value: impl Into<String>) -> Self {
                Self(
                    self.0.child(
                        Element::new("Parameter")
                            .attr("name", name)
                            .attr("value", value),
                    ),
                )
            }
        }
    };
}

// Declared after the macros above so their textual scope covers these modules.
mod connect;
mod dial;
mod verbs;

pub use connect::{Connect, ConversationRelay, Language, Start, Stop, Stream};
pub use dial::{Client, Conference, Dial, Number, Sip};
pub use verbs::{Gather, Hangup, Pause, Play, Redirect, Reject, Say};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_metacharacters_in_text_and_attributes() {
        let xml = Response::new()
            .push(Say::new(r#"Tom & "Jerry" <3 'x'"#).voice("a\"b"))
            .to_xml();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say voice=\"a&quot;b\">\
             Tom &amp; &quot;Jerry&quot; &lt;3 &apos;x&apos;</Say></Response>"
        );
    }

    #[test]
    fn drops_control_characters_that_break_xml() {
        let xml = Response::new().push(Say::new("a\u{0}b\u{1b}c\nd")).to_xml();
        assert!(xml.contains("<Say>abc\nd</Say>"), "{xml}");
    }

    #[test]
    fn setting_an_attribute_twice_replaces_it() {
        let element: Element = Gather::new().timeout(5).input("speech").timeout(3).into();
        assert_eq!(
            element.attrs(),
            &[
                ("timeout".to_string(), "3".to_string()),
                ("input".to_string(), "speech".to_string())
            ]
        );
    }

    #[test]
    fn client_identity_moves_into_identity_element_with_parameters() {
        let xml = Response::new()
            .push(Dial::new().client(Client::new("alice").parameter("k", "v")))
            .to_xml();
        assert!(xml.contains(
            "<Client><Identity>alice</Identity><Parameter name=\"k\" value=\"v\"/></Client>"
        ));
    }

    #[test]
    fn empty_response_is_self_closing() {
        assert_eq!(
            Response::new().to_xml(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"
        );
    }
}
