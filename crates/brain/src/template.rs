//! Reply templates: literal text with `{variable}` slots, parsed once at load so that a typo in
//! a variable name is a load error rather than a caller hearing "{product.prise}".

use std::fmt;

use crate::agent::{AgentConfig, Product};

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
}

impl Var {
    const ALL: [(&'static str, Var); 6] = [
        ("agent.name", Var::AgentName),
        ("product.name", Var::ProductName),
        ("product.price", Var::ProductPrice),
        ("product.description", Var::ProductDescription),
        ("products", Var::Products),
        ("prices", Var::Prices),
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
                    let name = rest[..end].trim();
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
                    parts.push(Part::Var(var));
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
            Part::Var(v) => Some(*v),
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
        let mut out = String::with_capacity(self.source.len() + 32);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
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
    fn spoken_list_joins_with_and() {
        let l = |v: &[&str]| spoken_list(v.iter().map(|s| s.to_string()));
        assert_eq!(l(&[]), "");
        assert_eq!(l(&["A"]), "A");
        assert_eq!(l(&["A", "B"]), "A and B");
        assert_eq!(l(&["A", "B", "C"]), "A, B and C");
    }
}
