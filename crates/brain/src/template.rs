//! Reply templates: literal text with `{variable}` slots, parsed once at load so that a typo in
//! a variable name is a load error rather than a caller hearing "{product.prise}".

use std::fmt;

use crate::agent::{AgentConfig, Product};
use crate::contact::Contact;

/// A variable a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `{agent.name}`
    AgentName,
    /// `{product.name}`: the product the caller mentioned.
    ProductName,
    /// `{product.price}`
    ProductPrice,
    /// `{product.description}`
    ProductDescription,
    /// `{products}`: every product name, as a spoken list ("A, B and C").
    Products,
    /// `{prices}`: every product with its price ("A at x, B at y and C at z").
    Prices,
    /// `{contact.first_name}` of the CRM contact (`{contact.first_name|there}` gives a default).
    ContactFirstName,
    /// `{contact.last_name}`
    ContactLastName,
    /// `{contact.name}`: first and last name.
    ContactName,
    /// `{contact.company}`
    ContactCompany,
}

impl Var {
    const ALL: [(&'static str, Var); 10] = [
        ("agent.name", Var::AgentName),
        ("product.name", Var::ProductName),
        ("product.price", Var::ProductPrice),
        ("product.description", Var::ProductDescription),
        ("products", Var::Products),
        ("prices", Var::Prices),
        ("contact.first_name", Var::ContactFirstName),
        ("contact.last_name", Var::ContactLastName),
        ("contact.name", Var::ContactName),
        ("contact.company", Var::ContactCompany),
    ];

    fn parse(name: &str) -> Option<Var> {
        Var::ALL.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// The variable as written in a template, braces included.
    pub fn spelling(self) -> String {
        let name = Var::ALL
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("", |(n, _)| n);
        format!("{{{name}}}")
    }

    /// Whether the variable reads the agent's product list.
    pub fn needs_products(self) -> bool {
        matches!(
            self,
            Var::ProductName
                | Var::ProductPrice
                | Var::ProductDescription
                | Var::Products
                | Var::Prices
        )
    }

    /// Whether the variable reads the CRM contact (and may carry a `|default`).
    pub fn is_contact(self) -> bool {
        matches!(
            self,
            Var::ContactFirstName | Var::ContactLastName | Var::ContactName | Var::ContactCompany
        )
    }

    /// Whether the variable needs a specific product in scope.
    pub fn needs_product(self) -> bool {
        matches!(
            self,
            Var::ProductName | Var::ProductPrice | Var::ProductDescription
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
    /// A contact variable with the text to say when the contact (or the field) is unknown.
    VarOr(Var, String),
}

/// A parsed reply template. Write `{{` and `}}` for literal braces.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses `source`, rejecting unknown variables and unbalanced braces.
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let rest = &source[i + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(format!(
                            "unclosed '{{' in template {source:?} (write '{{{{' for a literal brace)"
                        ));
                    };
                    let inner = rest[..end].trim();
                    let (name, default) = match inner.split_once('|') {
                        Some((n, d)) => (n.trim(), Some(d.trim().to_owned())),
                        None => (inner, None),
                    };
                    let var = Var::parse(name).ok_or_else(|| {
                        let known: Vec<String> = Var::ALL.iter().map(|(_, v)| v.spelling()).collect();
                        format!(
                            "unknown template variable {{{name}}} in {source:?}; known variables: {}",
                            known.join(", ")
                        )
                    })?;
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    match default {
                        Some(d) if var.is_contact() => parts.push(Part::VarOr(var, d)),
                        Some(_) => {
                            return Err(format!(
                                "only {{contact.*}} variables take a default (`|text`), not {{{name}}} in {source:?}"
                            ))
                        }
                        None => parts.push(Part::Var(var)),
                    }
                    // Skip the variable name and the closing brace.
                    for _ in 0..rest[..=end].chars().count() {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(format!(
                        "unmatched '}}' in template {source:?} (write '}}}}' for a literal brace)"
                    ));
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template {
            source: source.to_owned(),
            parts,
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variables used, in order of appearance (with repeats).
    pub fn vars(&self) -> impl Iterator<Item = Var> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) | Part::VarOr(v, _) => Some(*v),
            Part::Text(_) => None,
        })
    }

    /// Whether rendering needs a product in scope.
    pub fn needs_product(&self) -> bool {
        self.vars().any(Var::needs_product)
    }

    /// Fills the template. Load-time validation guarantees a product is given whenever the
    /// template needs one; should that be violated, product slots render empty, never panic.
    pub fn render(&self, agent: &AgentConfig, product: Option<&Product>) -> String {
        self.render_with(agent, product, None)
    }

    /// Fills the template, personalised with the CRM `contact` when known. A contact variable
    /// with no value renders its `|default`, or nothing (and the spacing is tidied).
    pub fn render_with(
        &self,
        agent: &AgentConfig,
        product: Option<&Product>,
        contact: Option<&Contact>,
    ) -> String {
        let mut out = String::with_capacity(self.source.len() + 32);
        let mut blank = false;
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) | Part::VarOr(v, _) if v.is_contact() => {
                    let value = contact.and_then(|c| contact_value(*v, c));
                    match (value, part) {
                        (Some(value), _) => out.push_str(&value),
                        (None, Part::VarOr(_, default)) => out.push_str(default),
                        (None, _) => blank = true,
                    }
                }
                Part::VarOr(..) => {}
                Part::Var(Var::AgentName) => out.push_str(&agent.name),
                Part::Var(Var::ProductName) => out.push_str(product.map_or("", |p| &p.name)),
                Part::Var(Var::ProductPrice) => out.push_str(product.map_or("", |p| &p.price)),
                Part::Var(Var::ProductDescription) => {
                    out.push_str(product.map_or("", |p| &p.description))
                }
                Part::Var(Var::Products) => {
                    out.push_str(&spoken_list(agent.products.iter().map(|p| p.name.clone())))
                }
                Part::Var(Var::Prices) => out.push_str(&spoken_list(
                    agent
                        .products
                        .iter()
                        .map(|p| format!("{} at {}", p.name, p.price)),
                )),
                Part::Var(_) => {}
            }
        }
        if blank {
            // "Hi , welcome" → "Hi, welcome" when a contact field was unknown.
            out = out.split_whitespace().collect::<Vec<_>>().join(" ");
            for p in [" ,", " .", " !", " ?"] {
                out = out.replace(p, &p[1..]);
            }
        }
        out
    }
}

impl TryFrom<String> for Template {
    type Error = String;
    fn try_from(s: String) -> Result<Template, String> {
        Template::parse(&s)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn contact_value(var: Var, c: &Contact) -> Option<String> {
    let v = match var {
        Var::ContactFirstName => c.first_name.clone(),
        Var::ContactLastName => c.last_name.clone(),
        Var::ContactName => c.full_name(),
        Var::ContactCompany => c.company.clone(),
        _ => None,
    };
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// "A", "A and B", "A, B and C": how a list sounds when spoken.
fn spoken_list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_variables_and_escaped_braces() {
        let t = Template::parse("Hi {{there}}, I'm { agent.name } from {products}.").unwrap();
        let vars: Vec<Var> = t.vars().collect();
        assert_eq!(vars, [Var::AgentName, Var::Products]);
        assert!(!t.needs_product());
    }

    #[test]
    fn unknown_variable_is_rejected_with_the_known_list() {
        let err = Template::parse("It costs {product.cost}").unwrap_err();
        assert!(err.contains("{product.cost}"), "{err}");
        assert!(err.contains("{product.price}"), "{err}");
    }

    #[test]
    fn unbalanced_braces_are_rejected() {
        assert!(Template::parse("oops {agent.name").is_err());
        assert!(Template::parse("oops }").is_err());
    }

    #[test]
    fn contact_variables_personalise_and_fall_back_to_defaults() {
        let agent = crate::AgentConfig::from_toml_str(
            "name = \"Max\"\ngreeting = \"Hi\"\nfallback = \"?\"\nclosing = \"Bye\"\nhandoff = \"Wait\"\n[[intents]]\nname = \"x\"\nexamples = [\"x\"]\nreply = \"y\"\n",
            "t.toml",
        )
        .unwrap();
        let t = Template::parse("Hi {contact.first_name|there}, this is {agent.name}.").unwrap();
        let ada = Contact {
            first_name: Some("Ada".into()),
            ..Default::default()
        };
        assert_eq!(
            t.render_with(&agent, None, Some(&ada)),
            "Hi Ada, this is Max."
        );
        assert_eq!(t.render_with(&agent, None, None), "Hi there, this is Max.");
        let bare = Template::parse("Hi {contact.first_name}, welcome.").unwrap();
        assert_eq!(bare.render_with(&agent, None, None), "Hi, welcome.");
        assert!(Template::parse("{agent.name|x}").is_err());
    }

    #[test]
    fn spoken_list_joins_with_and() {
        let l = |v: &[&str]| spoken_list(v.iter().map(|s| s.to_string()));
        assert_eq!(l(&[]), "");
        assert_eq!(l(&["A"]), "A");
        assert_eq!(l(&["A", "B"]), "A and B");
        assert_eq!(l(&["A", "B", "C"]), "A, B and C");
    }
}
