//! Label and field selectors as kube-apiserver v1.33 reads them: the `?labelSelector=` grammar
//! (apimachinery `labels.Parse`), `metav1.LabelSelector` objects (`LabelSelectorAsSelector`),
//! the `?fieldSelector=` grammar (`fields.ParseSelector`), and the field labels each resource
//! lets clients select on (each kind's field-label conversion and `GetAttrs`).

use std::fmt;

use serde_json::{Map, Value};

use crate::validation::{
    FieldError, aggregate_message, go_quote, is_qualified_name, is_valid_label_value,
};

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/// A label requirement operator (apimachinery `selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key in (a,b)`.
    In,
    /// `key notin (a,b)`: also true when the key is absent.
    NotIn,
    /// `key=value`.
    Equals,
    /// `key==value`.
    DoubleEquals,
    /// `key!=value`: also true when the key is absent.
    NotEquals,
    /// `key`.
    Exists,
    /// `!key`.
    DoesNotExist,
    /// `key>n` (integers).
    GreaterThan,
    /// `key<n` (integers).
    LessThan,
}

impl Operator {
    /// The operator's name as upstream spells it (`in`, `notin`, `=`, `==`, `!=`, `exists`, `!`, `gt`, `lt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::NotIn => "notin",
            Self::Equals => "=",
            Self::DoubleEquals => "==",
            Self::NotEquals => "!=",
            Self::Exists => "exists",
            Self::DoesNotExist => "!",
            Self::GreaterThan => "gt",
            Self::LessThan => "lt",
        }
    }
}

/// One label requirement: a key, an operator and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

/// The values slice as upstream passes it to `NewRequirement`: Go prints nil and empty differently.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Values<'a> {
    Nil,
    List(&'a [String]),
}

impl Values<'_> {
    fn as_slice(&self) -> &[String] {
        match self {
            Values::Nil => &[],
            Values::List(list) => list,
        }
    }

    /// The bad value `field.Invalid` shows for the list (`[]string(nil)` / `[]string{…}`).
    fn bad_value(&self) -> Value {
        match self {
            Values::Nil => crate::validation::go_repr("[]string(nil)"),
            Values::List(list) => {
                if list.is_empty() {
                    crate::validation::go_repr("[]string{}")
                } else {
                    Value::Array(list.iter().cloned().map(Value::String).collect())
                }
            }
        }
    }
}

impl Requirement {
    /// Builds a requirement as upstream `labels.NewRequirement` does (no field path): invalid
    /// keys, value counts and label values give the aggregated upstream error text.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, String> {
        Self::build(key, operator, Values::List(&values))
    }

    /// `NewRequirement` with Go's nil/empty distinction kept for error rendering.
    fn build(key: &str, operator: Operator, values: Values<'_>) -> Result<Self, String> {
        let mut errs = Vec::new();
        let msgs = is_qualified_name(key);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid("key", key, msgs.join("; ")));
        }
        let vals = values.as_slice();
        match operator {
            Operator::In | Operator::NotIn => {
                if vals.is_empty() {
                    errs.push(FieldError::invalid(
                        "values",
                        values.bad_value(),
                        "for 'in', 'notin' operators, values set can't be empty",
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if vals.len() != 1 {
                    errs.push(FieldError::invalid(
                        "values",
                        values.bad_value(),
                        "exact-match compatibility requires one single value",
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !vals.is_empty() {
                    errs.push(FieldError::invalid(
                        "values",
                        values.bad_value(),
                        "values set must be empty for exists and does not exist",
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if vals.len() != 1 {
                    errs.push(FieldError::invalid(
                        "values",
                        values.bad_value(),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in vals.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(FieldError::invalid(
                            format!("values[{i}]"),
                            v.as_str(),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
        }
        for (i, v) in vals.iter().enumerate() {
            let msgs = is_valid_label_value(v);
            if !msgs.is_empty() {
                errs.push(FieldError::invalid(
                    format!("values[{i}][{key}]"),
                    v.as_str(),
                    msgs.join("; "),
                ));
            }
        }
        match aggregate_message(&errs) {
            Some(msg) => Err(msg),
            None => Ok(Self {
                key: key.to_string(),
                operator,
                values: vals.to_vec(),
            }),
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values (sorted and deduplicated for parsed `in`/`notin` sets).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label map satisfies this requirement (upstream `Requirement.Matches`).
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let value = labels.get(&self.key).map(label_text);
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                value.is_some_and(|v| has(&v))
            }
            Operator::NotIn | Operator::NotEquals => value.is_none_or(|v| !has(&v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(Ok(actual)) = value.map(|v| v.parse::<i64>()) else {
                    return false;
                };
                let [wanted] = self.values.as_slice() else {
                    return false;
                };
                let Ok(wanted) = wanted.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > wanted
                } else {
                    actual < wanted
                }
            }
        }
    }
}

/// A label's value as text: non-string JSON (which a decoder would reject) as its serialization.
fn label_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for Requirement {
    /// Upstream `Requirement.String()`: `!k`, `k`, `k=v`, `k in (a,b)`, `k>1`, ….
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        let mut values = self.values.clone();
        values.sort();
        f.write_str(&values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: requirements that must all hold. The empty selector matches everything;
/// [`LabelSelector::nothing`] (a `null` `metav1.LabelSelector`) matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches no object.
    pub fn nothing() -> Self {
        Self {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Parses the `?labelSelector=` syntax exactly as apimachinery `labels.Parse`, with its
    /// error messages (e.g. `unable to parse requirement: …`, `found 'x', expected: …`).
    pub fn parse(selector: &str) -> Result<Self, String> {
        let mut parser = Parser {
            items: scan(selector.as_bytes()),
            position: 0,
        };
        let mut requirements = parser.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// Builds a selector from a `metav1.LabelSelector` JSON object as upstream
    /// `LabelSelectorAsSelector`: `null` selects nothing, `{}` everything; invalid keys, values
    /// or operators give upstream's error text.
    pub fn from_value(selector: &Value) -> Result<Self, String> {
        let obj = match selector {
            Value::Null => return Ok(Self::nothing()),
            Value::Object(obj) => obj,
            other => return Err(json_type_error(other, "v1.LabelSelector")),
        };
        let match_labels = match obj.get("matchLabels") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                return Err(json_field_error(
                    other,
                    "LabelSelector.matchLabels",
                    "map[string]string",
                ));
            }
        };
        let exprs: &[Value] = match obj.get("matchExpressions") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(list)) => list,
            Some(other) => {
                return Err(json_field_error(
                    other,
                    "LabelSelector.matchExpressions",
                    "[]v1.LabelSelectorRequirement",
                ));
            }
        };
        if match_labels.map_or(0, Map::len) + exprs.len() == 0 {
            return Ok(Self::everything());
        }
        let mut requirements = Vec::new();
        let mut labels: Vec<(&String, &Value)> =
            match_labels.map(|m| m.iter().collect()).unwrap_or_default();
        labels.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in labels {
            let Value::String(value) = value else {
                return Err(json_field_error(
                    value,
                    "LabelSelector.matchLabels",
                    "string",
                ));
            };
            let values = [value.clone()];
            requirements.push(Requirement::build(
                key,
                Operator::Equals,
                Values::List(&values),
            )?);
        }
        for expr in exprs {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
            let operator = expr.get("operator").and_then(Value::as_str).unwrap_or("");
            let op = match operator {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(format!(
                        "{} is not a valid label selector operator",
                        go_quote(other)
                    ));
                }
            };
            let values: Vec<String> = match expr.get("values") {
                Some(Value::Array(list)) => list.iter().map(label_text).collect(),
                _ => Vec::new(),
            };
            let values_arg = if values.is_empty() {
                Values::Nil
            } else {
                Values::List(&values)
            };
            requirements.push(Requirement::build(key, op, values_arg)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self {
            requirements,
            nothing: false,
        })
    }

    /// A selector requiring every `key=value` of a plain label map (Service and RC selectors);
    /// not validated, like upstream `SelectorFromValidatedSet`. An empty map matches everything.
    pub fn from_labels(labels: &Map<String, Value>) -> Self {
        let mut requirements: Vec<Requirement> = labels
            .iter()
            .map(|(k, v)| Requirement {
                key: k.clone(),
                operator: Operator::Equals,
                values: vec![label_text(v)],
            })
            .collect();
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Self {
            requirements,
            nothing: false,
        }
    }

    /// Whether a label map (as found at `metadata.labels`) satisfies the selector.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether an object's `metadata.labels` (absent or not a map: no labels) satisfies the selector.
    pub fn matches_object(&self, obj: &Value) -> bool {
        let empty = Map::new();
        let labels = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        self.matches(labels)
    }

    /// Whether the selector places no restriction (upstream `Selector.Empty()`).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// Whether this is the selector that matches nothing.
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// The value `label` must have, if the selector pins it to one (`RequiresExactMatch`).
    pub fn requires_exact_match(&self, label: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == label)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [only]) => Some(only),
            _ => None,
        }
    }
}

impl fmt::Display for LabelSelector {
    /// Upstream `Selector.String()`: requirements joined with `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

/// Go's `json.Unmarshal` type error for a whole value, roughly.
fn json_type_error(v: &Value, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go value of type {go_type}",
        json_kind(v)
    )
}

/// Go's `json.Unmarshal` type error for a struct field, roughly.
fn json_field_error(v: &Value, field: &str, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field {field} of type {go_type}",
        json_kind(v)
    )
}

/// The JSON kind names Go's decoder uses in errors.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A lexer token (apimachinery `labels.Token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

/// The token a literal spells, if any (`string2token`).
fn keyword(literal: &[u8]) -> Option<Token> {
    Some(match literal {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

/// Whitespace the lexer skips.
fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Bytes that start an operator.
fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Upstream's byte lexer; a NUL byte ends the input, as in Go.
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    /// The next byte (0 at the end), advancing past it.
    fn read(&mut self) -> u8 {
        match self.s.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    /// Steps back over the byte just read.
    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    /// The next token and its literal.
    fn lex(&mut self) -> (Token, String) {
        let mut c = self.read();
        while is_whitespace(c) {
            c = self.read();
        }
        if c == 0 {
            return (Token::EndOfString, String::new());
        }
        self.unread();
        if is_special(c) {
            self.scan_special()
        } else {
            self.scan_identifier()
        }
    }

    /// An identifier or the keywords `in` / `notin`.
    fn scan_identifier(&mut self) -> (Token, String) {
        let start = self.pos;
        let mut end = start;
        loop {
            let c = self.read();
            if c == 0 {
                break;
            }
            if is_special(c) || is_whitespace(c) {
                self.unread();
                break;
            }
            end = self.pos;
        }
        let literal = &self.s[start..end];
        let token = match keyword(literal) {
            Some(t @ (Token::In | Token::NotIn)) => t,
            _ => Token::Identifier,
        };
        (token, String::from_utf8_lossy(literal).into_owned())
    }

    /// The longest operator (`!=`, `==`, …) starting here.
    fn scan_special(&mut self) -> (Token, String) {
        let mut buffer = Vec::new();
        let mut last: Option<(Token, String)> = None;
        loop {
            let c = self.read();
            if c == 0 {
                break;
            }
            if !is_special(c) {
                self.unread();
                break;
            }
            buffer.push(c);
            match keyword(&buffer) {
                Some(t) => last = Some((t, String::from_utf8_lossy(&buffer).into_owned())),
                None if last.is_some() => {
                    self.unread();
                    break;
                }
                None => {}
            }
        }
        last.unwrap_or_else(|| {
            (
                Token::Error,
                format!(
                    "error expected: keyword found '{}'",
                    String::from_utf8_lossy(&buffer)
                ),
            )
        })
    }
}

/// Lexes the whole input, ending with an end-of-string token.
fn scan(s: &[u8]) -> Vec<(Token, String)> {
    let mut lexer = Lexer { s, pos: 0 };
    let mut items = Vec::new();
    loop {
        let item = lexer.lex();
        let end = item.0 == Token::EndOfString;
        items.push(item);
        if end {
            return items;
        }
    }
}

/// Whether a token is read in the key/operator position or the value position.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

/// Upstream's recursive-descent label selector parser over the scanned tokens.
struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    /// The current token without consuming it (`in`/`notin` are identifiers among values).
    fn lookahead(&self, context: Context) -> (Token, String) {
        let (mut token, literal) = self
            .items
            .get(self.position)
            .cloned()
            .unwrap_or((Token::EndOfString, String::new()));
        if context == Context::Values && matches!(token, Token::In | Token::NotIn) {
            token = Token::Identifier;
        }
        (token, literal)
    }

    /// The current token, consuming it.
    fn consume(&mut self, context: Context) -> (Token, String) {
        let item = self.lookahead(context);
        self.position += 1;
        item
    }

    /// The whole selector.
    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal) = self.lookahead(Context::Values);
            match token {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{literal}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    /// One requirement.
    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, operator) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = operator {
            return Requirement::build(&key, op, Values::List(&[]));
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::build(&key, operator, Values::List(&values))
    }

    /// The key, with `!` or a following `,`/end inferring the unary operators.
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut operator = None;
        let (mut token, mut literal) = self.consume(Context::Values);
        if token == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (token, literal) = self.consume(Context::Values);
        }
        if token != Token::Identifier {
            return Err(format!("found '{literal}', expected: identifier"));
        }
        let msgs = is_qualified_name(&literal);
        if !msgs.is_empty() {
            // Upstream validates with a nil field path, which prints as `<nil>`.
            return Err(
                FieldError::invalid("<nil>", literal.as_str(), msgs.join("; ")).to_string_full(),
            );
        }
        let (next, _) = self.lookahead(Context::Values);
        if matches!(next, Token::EndOfString | Token::Comma)
            && operator != Some(Operator::DoesNotExist)
        {
            operator = Some(Operator::Exists);
        }
        Ok((literal, operator))
    }

    /// A binary operator.
    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (token, literal) = self.consume(Context::KeyAndOperator);
        Ok(match token {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => {
                return Err(format!(
                    "found '{literal}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        })
    }

    /// A parenthesised value set; returns it sorted and deduplicated.
    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (token, literal) = self.consume(Context::Values);
        if token != Token::OpenPar {
            return Err(format!("found '{literal}' expected: '('"));
        }
        let (token, literal) = self.lookahead(Context::Values);
        match token {
            Token::Identifier | Token::Comma => {
                let set = self.parse_identifiers_list()?;
                if self.consume(Context::Values).0 != Token::ClosedPar {
                    return Err(format!("found '{literal}', expected: ')'"));
                }
                Ok(set.into_iter().collect())
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!(
                "found '{literal}', expected: ',', ')' or identifier"
            )),
        }
    }

    /// Comma-separated, possibly empty identifiers up to `)`.
    fn parse_identifiers_list(&mut self) -> Result<std::collections::BTreeSet<String>, String> {
        let mut set = std::collections::BTreeSet::new();
        loop {
            let (token, literal) = self.consume(Context::Values);
            match token {
                Token::Identifier => {
                    set.insert(literal);
                    let (next, next_literal) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(set),
                        _ => return Err(format!("found '{next_literal}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    let (next, _) = self.lookahead(Context::Values);
                    if next == Token::ClosedPar {
                        set.insert(String::new());
                        return Ok(set);
                    }
                    if next == Token::Comma {
                        self.consume(Context::Values);
                        set.insert(String::new());
                    }
                }
                _ => return Err(format!("found '{literal}', expected: ',', or identifier")),
            }
        }
    }

    /// The single value after `=`, `==`, `!=`, `>` or `<` (empty at `,` or the end).
    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (token, _) = self.lookahead(Context::Values);
        if matches!(token, Token::EndOfString | Token::Comma) {
            return Ok(vec![String::new()]);
        }
        let (token, literal) = self.consume(Context::Values);
        if token == Token::Identifier {
            Ok(vec![literal])
        } else {
            Err(format!("found '{literal}', expected: identifier"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

/// A field requirement operator (`=` and `==` are the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `field=value` or `field==value`.
    Equals,
    /// `field!=value`.
    NotEquals,
}

/// One field requirement: a field label, an operator and an (unescaped) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The field label, e.g. `spec.nodeName`.
    pub field: String,
    /// The comparison.
    pub operator: FieldOperator,
    /// The value with escapes removed.
    pub value: String,
}

/// A field selector: requirements that must all hold; empty matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the `?fieldSelector=` syntax exactly as apimachinery `fields.ParseSelector`:
    /// comma-separated `k=v`, `k==v`, `k!=v` terms with `\\`, `\,`, `\=` escapes in values.
    pub fn parse(selector: &str) -> Result<Self, String> {
        let mut parts = split_terms(selector);
        parts.sort_unstable();
        let mut requirements = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((field, op, rhs)) = split_term(part) else {
                return Err(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                ));
            };
            let value = unescape_value(rhs)?;
            if field.is_empty() && value.is_empty() {
                // Upstream's identity transform turns this term into "everything".
                continue;
            }
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator: op,
                value,
            });
        }
        Ok(Self { requirements })
    }

    /// The requirements, in upstream's (sorted-term) order.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether the selector places no restriction.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object satisfies the selector; `get` returns a field's value, `None` counting
    /// as `""` as in upstream's `fields.Set`.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let actual = get(&r.field).unwrap_or_default();
            match r.operator {
                FieldOperator::Equals => actual == r.value,
                FieldOperator::NotEquals => actual != r.value,
            }
        })
    }

    /// The value `field` must equal, if the selector requires one (`RequiresExactMatch`).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    /// Upstream `Selector.String()`: `k=v` / `k!=v` terms with escaped values, joined with `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| {
                let op = if r.operator == FieldOperator::Equals {
                    "="
                } else {
                    "!="
                };
                format!("{}{op}{}", r.field, escape_value(&r.value))
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Escapes `\`, `,` and `=` in a field selector value (`fields.EscapeValue`).
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Undoes [`escape_value`], rejecting bad escapes and bare `,`/`=` (`fields.UnescapeValue`).
pub fn unescape_value(s: &str) -> Result<String, String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if matches!(c, '\\' | ',' | '=') {
                out.push(c);
            } else {
                return Err(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                ));
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Go prints the rune with %v: its code point.
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

/// Splits on commas not escaped by a backslash (`splitTerms`).
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at its first operator, trying `!=`, `==`, `=` at each position (`splitTerm`).
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, operator) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], operator, rhs));
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Per-resource field labels
// ---------------------------------------------------------------------------------------------

/// How a resource's field-label conversion words its rejection.
#[derive(Clone, Copy)]
enum LabelError {
    /// `runtime.DefaultMetaV1FieldSelectorConversion`.
    NotKnown,
    /// Core kinds: `field label not supported: <label>`.
    NotSupported,
    /// batch/v1 Job: `field label "<label>" not supported for batchv1.Job`.
    BatchJob,
}

/// The labels a resource accepts, aliases it rewrites, and how it rejects others.
struct FieldLabels {
    fields: &'static [&'static str],
    aliases: &'static [(&'static str, &'static str)],
    error: LabelError,
}

const META_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];
const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];
const NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable"];
const RC_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.replicas"];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
const NAMESPACE_FIELDS: &[&str] = &["metadata.name", "status.phase"];
const SECRET_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "type"];
const SERVICE_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.clusterIP",
    "spec.type",
];
const JOB_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];
const CSR_FIELDS: &[&str] = &["metadata.name", "spec.signerName"];
const EVENTS_V1_FIELDS: &[&str] = &[
    "reason",
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reportingController",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];

/// The field-label rules of a resource (the kinds with `AddFieldLabelConversionFunc` in v1.33;
/// everything else, custom resources included, gets the metadata-only default).
fn field_labels(group: &str, resource: &str) -> FieldLabels {
    let (fields, aliases, error): (_, &[(&str, &str)], _) = match (group, resource) {
        ("", "pods") => (
            POD_FIELDS,
            &[("spec.host", "spec.nodeName")],
            LabelError::NotSupported,
        ),
        ("", "nodes") => (NODE_FIELDS, &[], LabelError::NotSupported),
        ("", "replicationcontrollers") => (RC_FIELDS, &[], LabelError::NotSupported),
        ("", "events") => (EVENT_FIELDS, &[], LabelError::NotSupported),
        ("", "namespaces") => (NAMESPACE_FIELDS, &[], LabelError::NotSupported),
        ("", "secrets") => (SECRET_FIELDS, &[], LabelError::NotSupported),
        ("", "services") => (SERVICE_FIELDS, &[], LabelError::NotSupported),
        ("batch", "jobs") => (JOB_FIELDS, &[], LabelError::BatchJob),
        ("certificates.k8s.io", "certificatesigningrequests") => {
            (CSR_FIELDS, &[], LabelError::NotSupported)
        }
        ("events.k8s.io", "events") => (EVENTS_V1_FIELDS, &[], LabelError::NotSupported),
        _ => (META_FIELDS, &[], LabelError::NotKnown),
    };
    FieldLabels {
        fields,
        aliases,
        error,
    }
}

/// The field labels a resource supports in field selectors (aliases such as the pods'
/// `spec.host` are accepted too but not listed).
pub fn supported_fields(group: &str, resource: &str) -> &'static [&'static str] {
    field_labels(group, resource).fields
}

/// The canonical label for `field` on a resource, if the resource accepts it.
fn canonical_field<'a>(labels: &FieldLabels, field: &'a str) -> Option<&'a str> {
    if labels.fields.contains(&field) {
        return Some(field);
    }
    labels
        .aliases
        .iter()
        .find(|(alias, _)| *alias == field)
        .map(|(_, target)| *target)
}

/// Checks every requirement's field against the resource's field labels, returning upstream's
/// exact `ConvertFieldLabel` error for the first unsupported one (answer it with 400 BadRequest):
/// `field label not supported: <field>` for core kinds with their own labels, `"<field>" is not
/// a known field selector: only "metadata.name", "metadata.namespace"` for the rest.
pub fn check_supported(
    group: &str,
    resource: &str,
    selector: &FieldSelector,
) -> Result<(), String> {
    let labels = field_labels(group, resource);
    for r in selector.requirements() {
        if canonical_field(&labels, &r.field).is_some() {
            continue;
        }
        return Err(match labels.error {
            LabelError::NotKnown => format!(
                "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                go_quote(&r.field)
            ),
            LabelError::NotSupported => format!("field label not supported: {}", r.field),
            LabelError::BatchJob => format!(
                "field label {} not supported for batchv1.Job",
                go_quote(&r.field)
            ),
        });
    }
    Ok(())
}

/// The string at a `/`-separated JSON pointer, or `""`.
fn string_at(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The integer at a JSON pointer as decimal text, `"0"` when absent (Go's zero value).
fn int_at(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .to_string()
}

/// The boolean at a JSON pointer as `true`/`false`, `false` when absent.
fn bool_at(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .to_string()
}

/// The value an object has for a field label, as the API server compares it in field selectors;
/// `None` when the resource does not support the label. Absent fields give their Go zero value
/// (`""`, `"0"`, `"false"`), as upstream's `GetAttrs` does.
pub fn field_value(group: &str, resource: &str, obj: &Value, field: &str) -> Option<String> {
    let labels = field_labels(group, resource);
    let field = canonical_field(&labels, field)?;
    let value = match (group, resource, field) {
        (_, _, "metadata.name") => string_at(obj, "/metadata/name"),
        (_, _, "metadata.namespace") => string_at(obj, "/metadata/namespace"),
        ("", "pods", "spec.serviceAccountName") => {
            let name = string_at(obj, "/spec/serviceAccountName");
            if name.is_empty() {
                string_at(obj, "/spec/serviceAccount")
            } else {
                name
            }
        }
        ("", "pods", "spec.hostNetwork") => bool_at(obj, "/spec/hostNetwork"),
        ("", "pods", "status.podIP") => {
            let ip = string_at(obj, "/status/podIP");
            if ip.is_empty() {
                string_at(obj, "/status/podIPs/0/ip")
            } else {
                ip
            }
        }
        // Accepted by the conversion but absent from the pod's field set: always "".
        ("", "pods", "status.podIPs") => String::new(),
        ("", "nodes", "spec.unschedulable") => bool_at(obj, "/spec/unschedulable"),
        ("", "replicationcontrollers", "status.replicas") => int_at(obj, "/status/replicas"),
        ("batch", "jobs", "status.successful") => int_at(obj, "/status/succeeded"),
        ("", "events", "source") => {
            let source = string_at(obj, "/source/component");
            if source.is_empty() {
                string_at(obj, "/reportingComponent")
            } else {
                source
            }
        }
        ("events.k8s.io", "events", "source") => {
            let source = string_at(obj, "/deprecatedSource/component");
            if source.is_empty() {
                string_at(obj, "/reportingController")
            } else {
                source
            }
        }
        (_, _, other) => string_at(obj, &format!("/{}", other.replace('.', "/"))),
    };
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NAME_PART_ERR: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn label_selector_parses_like_upstream() {
        let cases: &[(&str, &str, &str)] = &[
            ("empty", "", ""),
            ("equals", "a=b", "a=b"),
            ("double equals", "a==b", "a==b"),
            ("not equals", "a!=b", "a!=b"),
            ("in set is sorted", "x in (b,a)", "x in (a,b)"),
            ("notin", "x notin (a)", "x notin (a)"),
            ("exists", "a", "a"),
            ("does not exist", "!a", "!a"),
            ("whitespace tolerated", "  a = b ,\tc\n", "a=b,c"),
            ("requirements sorted by key", "b=1,a=2", "a=2,b=1"),
            ("greater than", "a>1", "a>1"),
            ("less than", "a<10", "a<10"),
            ("empty exact value", "a=", "a="),
            ("empty set means empty value", "a in ()", "a in ()"),
            ("empty members in set", "x in (foo,,baz)", "x in (,baz,foo)"),
            ("trailing comma in set", "x in (a,)", "x in (,a)"),
            ("keyword as value", "a=in", "a=in"),
            ("keyword in set", "a in (in,notin)", "a in (in,notin)"),
            ("prefixed key", "example.com/app=web", "example.com/app=web"),
            ("nul byte between tokens ends input", "a=b \0garbage", "a=b"),
            ("duplicate set values collapse", "a in (x,x)", "a in (x)"),
        ];
        for (name, input, want) in cases {
            let got = LabelSelector::parse(input).map(|s| s.to_string());
            assert_eq!(got.as_deref(), Ok(*want), "case {name:?}");
        }
    }

    #[test]
    fn label_selector_parse_errors_match_upstream() {
        let long_key = "a".repeat(64);
        let long_err = format!(
            "unable to parse requirement: <nil>: Invalid value: \"{long_key}\": name part must be no more than 63 characters"
        );
        let cases: Vec<(&str, String, String)> = vec![
            (
                "space instead of operator",
                "a b".into(),
                "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt".into(),
            ),
            ("trailing comma", "a=b,".into(), "found '', expected: identifier after ','".into()),
            ("leading comma", ",a".into(), "found ',', expected: !, identifier, or 'end of string'".into()),
            ("two operators", "a=b=c".into(), "found '=', expected: ',' or 'end of string'".into()),
            ("value after not-exists", "!a=b".into(), "found '=', expected: ',' or 'end of string'".into()),
            (
                "nul byte inside a token only ends the token",
                "a=b\0garbage".into(),
                "found 'garbage', expected: ',' or 'end of string'".into(),
            ),
            ("bare bang", "!".into(), "unable to parse requirement: found '', expected: identifier".into()),
            ("in without set", "a in".into(), "unable to parse requirement: found '' expected: '('".into()),
            ("unclosed set", "a in (b".into(), "unable to parse requirement: found '', expected: ',' or ')'".into()),
            ("operator in set", "a in (=)".into(), "unable to parse requirement: found '=', expected: ',', ')' or identifier".into()),
            (
                "bad key",
                "a_=b".into(),
                format!("unable to parse requirement: <nil>: Invalid value: \"a_\": {NAME_PART_ERR}"),
            ),
            (
                "bad value",
                "a=b_".into(),
                format!("unable to parse requirement: values[0][a]: Invalid value: \"b_\": {LABEL_VALUE_ERR}"),
            ),
            (
                "gt needs integer",
                "a>b".into(),
                "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"
                    .into(),
            ),
            ("key too long", format!("{long_key}=b"), long_err),
            (
                "unicode key",
                "ключ=v".into(),
                format!("unable to parse requirement: <nil>: Invalid value: \"ключ\": {NAME_PART_ERR}"),
            ),
            (
                "too many slashes",
                "a/b/c".into(),
                "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into(),
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(LabelSelector::parse(&input), Err(want), "case {name:?}");
        }
    }

    #[test]
    fn label_selector_matches_like_upstream() {
        let cases: &[(&str, &str, Value, bool)] = &[
            ("equals hit", "a=b", json!({"a": "b"}), true),
            ("equals miss", "a=b", json!({"a": "c"}), false),
            ("equals absent", "a=b", json!({}), false),
            ("not equals absent", "a!=b", json!({}), true),
            ("not equals same", "a!=b", json!({"a": "b"}), false),
            ("notin absent", "a notin (b)", json!({}), true),
            ("notin member", "a notin (b)", json!({"a": "b"}), false),
            ("in member", "a in (b,c)", json!({"a": "c"}), true),
            ("exists empty value", "a", json!({"a": ""}), true),
            ("exists absent", "a", json!({}), false),
            ("does not exist", "!a", json!({"b": "x"}), true),
            ("gt numeric", "a>5", json!({"a": "6"}), true),
            ("gt not numeric", "a>5", json!({"a": "x"}), false),
            ("lt numeric", "a<5", json!({"a": "-3"}), true),
            ("empty selector", "", json!({"a": "b"}), true),
            ("all must hold", "a=b,c", json!({"a": "b"}), false),
        ];
        for (name, selector, lbls, want) in cases {
            let sel = LabelSelector::parse(selector).unwrap_or_default();
            assert_eq!(sel.matches(&labels(lbls.clone())), *want, "case {name:?}");
        }
        assert!(
            !LabelSelector::nothing().matches(&Map::new()),
            "case \"nothing matches nothing\""
        );
        let obj = json!({"metadata": {"labels": {"app": "web"}}});
        assert!(
            LabelSelector::parse("app=web")
                .unwrap_or_default()
                .matches_object(&obj),
            "case \"object labels\""
        );
        assert!(
            LabelSelector::parse("!app")
                .unwrap_or_default()
                .matches_object(&json!("junk")),
            "case \"junk object\""
        );
    }

    #[test]
    fn label_selector_from_metav1_object() {
        let cases: Vec<(&str, Value, Result<&str, String>)> = vec![
            ("empty object is everything", json!({}), Ok("")),
            ("match labels", json!({"matchLabels": {"b": "2", "a": "1"}}), Ok("a=1,b=2")),
            (
                "expressions",
                json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]},
                                            {"key": "gone", "operator": "DoesNotExist"}]}),
                Ok("!gone,tier in (api,web)"),
            ),
            (
                "bad operator",
                json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]}),
                Err("\"Foo\" is not a valid label selector operator".into()),
            ),
            (
                "values on exists",
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                Err("values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist".into()),
            ),
            (
                "in without values",
                json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
                Err("values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty".into()),
            ),
            (
                "bad label key",
                json!({"matchLabels": {"a_": "x"}}),
                Err(format!("key: Invalid value: \"a_\": {NAME_PART_ERR}")),
            ),
            (
                "bad key and value aggregate",
                json!({"matchLabels": {"a_": "x_"}}),
                Err(format!(
                    "[key: Invalid value: \"a_\": {NAME_PART_ERR}, values[0][a_]: Invalid value: \"x_\": {LABEL_VALUE_ERR}]"
                )),
            ),
            (
                "match labels not a map",
                json!({"matchLabels": "app=web"}),
                Err("json: cannot unmarshal string into Go struct field LabelSelector.matchLabels of type map[string]string".into()),
            ),
            ("not an object", json!([1]), Err("json: cannot unmarshal array into Go value of type v1.LabelSelector".into())),
        ];
        for (name, input, want) in cases {
            let got = LabelSelector::from_value(&input).map(|s| s.to_string());
            assert_eq!(got, want.map(str::to_string), "case {name:?}");
        }
        let none = LabelSelector::from_value(&Value::Null);
        assert_eq!(
            none,
            Ok(LabelSelector::nothing()),
            "case \"null selects nothing\""
        );
    }

    #[test]
    fn requirement_new_reports_upstream_errors() {
        let cases: Vec<(&str, Result<Requirement, String>, Option<&str>)> = vec![
            (
                "equals needs one value",
                Requirement::new("a", Operator::Equals, vec![]),
                Some(
                    "values: Invalid value: []string{}: exact-match compatibility requires one single value",
                ),
            ),
            (
                "valid in",
                Requirement::new("a", Operator::In, vec!["x".into()]),
                None,
            ),
        ];
        for (name, got, want_err) in cases {
            assert_eq!(got.err().as_deref(), want_err, "case {name:?}");
        }
        let sel = LabelSelector::parse("a=b,c in (d)").unwrap_or_default();
        assert_eq!(sel.requires_exact_match("a"), Some("b"), "case \"exact a\"");
        assert_eq!(sel.requires_exact_match("c"), Some("d"), "case \"exact c\"");
        assert_eq!(sel.requires_exact_match("z"), None, "case \"exact absent\"");
    }

    #[test]
    fn field_selector_parses_like_upstream() {
        let eq = FieldOperator::Equals;
        let ne = FieldOperator::NotEquals;
        let cases: &[(&str, &str, &[(&str, FieldOperator, &str)])] = &[
            ("empty", "", &[]),
            ("equals", "a=b", &[("a", eq, "b")]),
            ("double equals", "a==b", &[("a", eq, "b")]),
            ("not equals", "a!=b", &[("a", ne, "b")]),
            (
                "terms sorted",
                "spec.nodeName=n,metadata.name=x",
                &[("metadata.name", eq, "x"), ("spec.nodeName", eq, "n")],
            ),
            ("escaped comma", r"a=x\,y", &[("a", eq, "x,y")]),
            ("escaped equals", r"a=x\=y", &[("a", eq, "x=y")]),
            ("escaped backslash", r"a=x\\y", &[("a", eq, r"x\y")]),
            ("empty value", "a=", &[("a", eq, "")]),
            ("empty term dropped", "a=b,,", &[("a", eq, "b")]),
            ("bare equals is everything", "=", &[]),
            ("empty field kept", "=x", &[("", eq, "x")]),
            ("no whitespace trimming", " a = b", &[(" a ", eq, " b")]),
            ("unicode value", "a=ünïcode", &[("a", eq, "ünïcode")]),
        ];
        for (name, input, want) in cases {
            let got = FieldSelector::parse(input);
            let want: Vec<FieldRequirement> = want
                .iter()
                .map(|(f, o, v)| FieldRequirement {
                    field: f.to_string(),
                    operator: *o,
                    value: v.to_string(),
                })
                .collect();
            assert_eq!(
                got.map(|s| s.requirements().to_vec()),
                Ok(want),
                "case {name:?}"
            );
        }
    }

    #[test]
    fn field_selector_errors_match_upstream() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "no operator",
                "a",
                "invalid selector: 'a'; can't understand 'a'",
            ),
            (
                "second bad term",
                "b=c,x",
                "invalid selector: 'b=c,x'; can't understand 'x'",
            ),
            (
                "unescaped equals",
                "a=b=c",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                "bad escape",
                r"a=x\y",
                r"invalid field selector: invalid escape sequence: \y",
            ),
            (
                "dangling backslash",
                "a=x\\",
                r"invalid field selector: invalid escape sequence: \",
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(
                FieldSelector::parse(input),
                Err(want.to_string()),
                "case {name:?}"
            );
        }
    }

    #[test]
    fn field_selector_round_trips_and_matches() {
        let sel = FieldSelector::parse(r"a=x\,y,b!=z").unwrap_or_default();
        assert_eq!(sel.to_string(), r"a=x\,y,b!=z", "case \"display escapes\"");
        assert_eq!(escape_value(r"a\b,c=d"), r"a\\b\,c\=d", "case \"escape\"");
        assert_eq!(
            unescape_value(r"a\\b\,c\=d").as_deref(),
            Ok(r"a\b,c=d"),
            "case \"unescape\""
        );
        let cases: &[(&str, &str, bool)] = &[
            ("equal hit", "status.phase=Running", true),
            ("equal miss", "status.phase=Pending", false),
            ("not equal", "status.phase!=Pending", true),
            ("missing field is empty", "spec.nodeName=", true),
            ("missing field not equal", "spec.nodeName!=n1", true),
        ];
        let pod = json!({"status": {"phase": "Running"}});
        for (name, selector, want) in cases {
            let sel = FieldSelector::parse(selector).unwrap_or_default();
            assert_eq!(
                sel.matches(|f| field_value("", "pods", &pod, f)),
                *want,
                "case {name:?}"
            );
        }
        assert_eq!(
            sel.requires_exact_match("a"),
            Some("x,y"),
            "case \"exact match\""
        );
        assert_eq!(
            sel.requires_exact_match("b"),
            None,
            "case \"not-equals is no exact match\""
        );
    }

    #[test]
    fn check_supported_uses_each_kinds_message() {
        let cases: &[(&str, &str, &str, &str, Result<(), &str>)] = &[
            ("pod node name", "", "pods", "spec.nodeName=n", Ok(())),
            ("pod legacy host alias", "", "pods", "spec.host=n", Ok(())),
            (
                "pod podIPs accepted",
                "",
                "pods",
                "status.podIPs=1.2.3.4",
                Ok(()),
            ),
            (
                "pod unknown",
                "",
                "pods",
                "spec.priority=0",
                Err("field label not supported: spec.priority"),
            ),
            (
                "node has no namespace label",
                "",
                "nodes",
                "metadata.namespace=x",
                Err("field label not supported: metadata.namespace"),
            ),
            ("secret type", "", "secrets", "type=Opaque", Ok(())),
            (
                "service type",
                "",
                "services",
                "spec.type=ClusterIP,spec.clusterIP!=None",
                Ok(()),
            ),
            (
                "event reason",
                "",
                "events",
                "reason=Failed,involvedObject.name=x",
                Ok(()),
            ),
            (
                "events v1 regarding",
                "events.k8s.io",
                "events",
                "regarding.name=x,reportingController=c",
                Ok(()),
            ),
            (
                "events v1 core spelling",
                "events.k8s.io",
                "events",
                "involvedObject.name=x",
                Err("field label not supported: involvedObject.name"),
            ),
            (
                "job successful",
                "batch",
                "jobs",
                "status.successful=1",
                Ok(()),
            ),
            (
                "job unknown",
                "batch",
                "jobs",
                "status.succeeded=1",
                Err("field label \"status.succeeded\" not supported for batchv1.Job"),
            ),
            (
                "csr signer",
                "certificates.k8s.io",
                "certificatesigningrequests",
                "spec.signerName=x",
                Ok(()),
            ),
            (
                "replicaset default conversion",
                "apps",
                "replicasets",
                "status.replicas=0",
                Err(
                    "\"status.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                ),
            ),
            (
                "configmap namespace",
                "",
                "configmaps",
                "metadata.namespace=default",
                Ok(()),
            ),
            (
                "custom resource name",
                "example.com",
                "widgets",
                "metadata.name=w",
                Ok(()),
            ),
            (
                "empty field label",
                "",
                "configmaps",
                "=x",
                Err(
                    "\"\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                ),
            ),
        ];
        for (name, group, resource, selector, want) in cases {
            let sel = FieldSelector::parse(selector).unwrap_or_default();
            let got = check_supported(group, resource, &sel);
            assert_eq!(got, want.map_err(str::to_string), "case {name:?}");
        }
        assert!(
            supported_fields("", "pods").contains(&"status.nominatedNodeName"),
            "case \"pod list\""
        );
        assert_eq!(
            supported_fields("apps", "deployments"),
            &["metadata.name", "metadata.namespace"],
            "case \"default list\""
        );
    }

    #[test]
    fn field_values_follow_get_attrs() {
        let pod = json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": "n1", "serviceAccount": "legacy", "hostNetwork": true},
            "status": {"podIPs": [{"ip": "10.0.0.1"}], "phase": "Running"}
        });
        let bare = json!({"metadata": {"name": "b"}});
        let cases: Vec<(&str, &str, &str, Value, &str, Option<&str>)> = vec![
            (
                "pod name",
                "",
                "pods",
                pod.clone(),
                "metadata.name",
                Some("p"),
            ),
            (
                "pod namespace",
                "",
                "pods",
                pod.clone(),
                "metadata.namespace",
                Some("ns"),
            ),
            (
                "pod node",
                "",
                "pods",
                pod.clone(),
                "spec.nodeName",
                Some("n1"),
            ),
            (
                "pod host alias",
                "",
                "pods",
                pod.clone(),
                "spec.host",
                Some("n1"),
            ),
            (
                "pod legacy service account",
                "",
                "pods",
                pod.clone(),
                "spec.serviceAccountName",
                Some("legacy"),
            ),
            (
                "pod host network",
                "",
                "pods",
                pod.clone(),
                "spec.hostNetwork",
                Some("true"),
            ),
            (
                "pod ip from list",
                "",
                "pods",
                pod.clone(),
                "status.podIP",
                Some("10.0.0.1"),
            ),
            (
                "pod ips never set",
                "",
                "pods",
                pod.clone(),
                "status.podIPs",
                Some(""),
            ),
            (
                "unscheduled pod",
                "",
                "pods",
                bare.clone(),
                "spec.nodeName",
                Some(""),
            ),
            (
                "default host network",
                "",
                "pods",
                bare.clone(),
                "spec.hostNetwork",
                Some("false"),
            ),
            (
                "pod unsupported",
                "",
                "pods",
                pod.clone(),
                "spec.priority",
                None,
            ),
            (
                "node unschedulable default",
                "",
                "nodes",
                bare.clone(),
                "spec.unschedulable",
                Some("false"),
            ),
            (
                "cluster-scoped namespace label",
                "",
                "nodes",
                bare.clone(),
                "metadata.namespace",
                None,
            ),
            (
                "rc replicas default",
                "",
                "replicationcontrollers",
                bare.clone(),
                "status.replicas",
                Some("0"),
            ),
            (
                "job successful",
                "batch",
                "jobs",
                json!({"status": {"succeeded": 3}}),
                "status.successful",
                Some("3"),
            ),
            (
                "event source fallback",
                "",
                "events",
                json!({"reportingComponent": "kubelet"}),
                "source",
                Some("kubelet"),
            ),
            (
                "event involved kind",
                "",
                "events",
                json!({"involvedObject": {"kind": "Pod"}}),
                "involvedObject.kind",
                Some("Pod"),
            ),
            (
                "events v1 regarding",
                "events.k8s.io",
                "events",
                json!({"regarding": {"name": "x"}}),
                "regarding.name",
                Some("x"),
            ),
            (
                "secret type",
                "",
                "secrets",
                json!({"type": "Opaque"}),
                "type",
                Some("Opaque"),
            ),
            (
                "hostile object",
                "",
                "pods",
                json!("not an object"),
                "spec.nodeName",
                Some(""),
            ),
            (
                "hostile nested types",
                "",
                "pods",
                json!({"spec": ["x"], "status": {"podIP": 5}}),
                "status.podIP",
                Some(""),
            ),
        ];
        for (name, group, resource, obj, field, want) in cases {
            assert_eq!(
                field_value(group, resource, &obj, field).as_deref(),
                want,
                "case {name:?}"
            );
        }
    }

    #[test]
    fn hostile_selectors_never_panic() {
        let alphabet = [
            "a", "=", "!", "(", ")", ",", " ", "in", "notin", "<", ">", "\\", "é", "\0", "/", "_",
        ];
        let mut inputs = Vec::new();
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    for d in alphabet {
                        inputs.push(format!("{a}{b}{c}{d}"));
                    }
                }
            }
        }
        inputs.push("a".repeat(1 << 20));
        inputs.push("a=".repeat(100_000));
        inputs.push("(".repeat(100_000));
        inputs.push("a in (".to_string() + &",".repeat(100_000));
        inputs.push("\u{10FFFF}=\u{200B}".into());
        for input in &inputs {
            let _ = LabelSelector::parse(input).map(|s| s.to_string());
            let _ = FieldSelector::parse(input).map(|s| s.to_string());
        }
        for value in [
            json!(null),
            json!(1),
            json!("x"),
            json!({"matchLabels": {"a": 1}}),
            json!({"matchExpressions": "x"}),
            json!({"matchExpressions": [null, 1, {"key": 5, "operator": []}]}),
        ] {
            let _ = LabelSelector::from_value(&value);
        }
    }
}
