//! The shell language subset tutorials use, parsed into a small syntax tree: simple commands
//! with quoting, `$VAR`/`${VAR}`/`${VAR:-x}`, `$(...)`, `$((...))`, redirects, pipelines,
//! `;` `&&` `||` `!`, `if`, `while`/`until`, `for`, `{ ...; }` and `( ... )`.

use std::sync::Arc;

/// One piece of a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Literal text; `true` when quoted (no field splitting applies).
    Lit(String, bool),
    /// `$NAME`, `${NAME}` or `${NAME:-default}`; `true` when inside double quotes.
    Var(String, Option<Vec<Part>>, bool),
    /// `$(...)` or backticks: the source of the inner script; `true` when quoted.
    Subst(String, bool),
    /// `$((...))`: the expression text.
    Arith(String),
}

/// A word: the concatenation of its parts.
pub(crate) type Word = Vec<Part>;

/// Where a stream goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redirect {
    /// 1 (stdout), 2 (stderr) or 0 (stdin).
    pub(crate) fd: u8,
    /// What it goes to.
    pub(crate) target: RedirectTarget,
}

/// A redirect's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RedirectTarget {
    /// `> file` (`append` for `>>`), or `< file` for fd 0.
    File(Word, bool),
    /// `2>&1` / `>&2`: duplicate another descriptor.
    Dup(u8),
    /// `<<EOF ... EOF`: the body (quoted parts when the delimiter was quoted).
    HereDoc(Word),
}

/// A command in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// `A=1 cmd args > file`.
    Simple {
        assigns: Vec<(String, Word)>,
        words: Vec<Word>,
        redirects: Vec<Redirect>,
    },
    /// `a | b | c`.
    Pipeline(Vec<Arc<Node>>),
    /// `a; b; c` (also newlines).
    Seq(Vec<Arc<Node>>),
    /// `a && b`.
    And(Arc<Node>, Arc<Node>),
    /// `a || b`.
    Or(Arc<Node>, Arc<Node>),
    /// `! a`.
    Not(Arc<Node>),
    /// `a &`.
    Background(Arc<Node>),
    /// `while cond; do body; done` (`until` when the flag is set).
    While {
        cond: Arc<Node>,
        body: Arc<Node>,
        until: bool,
    },
    /// `for var in items; do body; done`.
    For {
        var: String,
        items: Vec<Word>,
        body: Arc<Node>,
    },
    /// `if c1; then b1; elif c2; then b2; else b3; fi`.
    If {
        branches: Vec<(Arc<Node>, Arc<Node>)>,
        otherwise: Option<Arc<Node>>,
    },
}

/// Why a script cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// A real syntax error (the shell's own words after `syntax error: `).
    Syntax(String),
    /// Valid shell skiff does not simulate (e.g. `case`, functions).
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(Word, String),
    Op(&'static str),
    Redir(Redirect),
    Newline,
}

struct Lexer<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    /// Here-documents whose bodies start after the current line: (delimiter, quoted,
    /// strip leading tabs, index of their token).
    pending: Vec<(String, bool, bool, usize)>,
}

const OPS: [&str; 10] = ["&&", "||", ";;", ";", "|", "&", "(", ")", "{", "}"];

impl<'a> Lexer<'a> {
    fn tokens(text: &'a str) -> Result<Vec<Tok>, ParseError> {
        let mut lx = Lexer {
            src: text.as_bytes(),
            text,
            pos: 0,
            pending: Vec::new(),
        };
        let mut out = Vec::new();
        loop {
            let tok = lx.next_tok()?;
            let at_line_end = matches!(tok, Some(Tok::Newline) | None);
            if let Some(tok) = tok {
                out.push(tok);
                if let Some(p) = lx.pending.last_mut()
                    && p.3 == usize::MAX
                {
                    p.3 = out.len() - 1;
                }
            }
            if at_line_end && !lx.pending.is_empty() {
                for (delim, quoted, strip, index) in std::mem::take(&mut lx.pending) {
                    let body = lx.heredoc_body(&delim, strip);
                    let word = if quoted {
                        vec![Part::Lit(body, true)]
                    } else {
                        let mut parts = Lexer::word_parts(&body, true)?;
                        parts.insert(0, Part::Lit(String::new(), true));
                        parts
                    };
                    if let Some(Tok::Redir(r)) = out.get_mut(index) {
                        r.target = RedirectTarget::HereDoc(word);
                    }
                }
            }
            if at_line_end && lx.peek().is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Reads a here-document's lines up to its delimiter line.
    fn heredoc_body(&mut self, delim: &str, strip: bool) -> String {
        let mut body = String::new();
        while self.pos < self.src.len() {
            let end = self.text[self.pos..]
                .find('\n')
                .map(|i| self.pos + i)
                .unwrap_or(self.text.len());
            let line = &self.text[self.pos..end];
            self.pos = (end + 1).min(self.text.len());
            let line = if strip {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if line.trim_end_matches('\r') == delim {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn next_tok(&mut self) -> Result<Option<Tok>, ParseError> {
        // Skip blanks, line continuations and comments.
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r') => self.pos += 1,
                Some(b'\\') if self.src.get(self.pos + 1) == Some(&b'\n') => self.pos += 2,
                Some(b'#') => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        if c == b'\n' {
            self.pos += 1;
            return Ok(Some(Tok::Newline));
        }
        // Redirects: [n]> [n]>> [n]< [n]>&m &>
        let rest = &self.text[self.pos..];
        let (fd, after_fd) = match c {
            b'0'..=b'2' if matches!(self.src.get(self.pos + 1), Some(b'>' | b'<')) => {
                (Some(c - b'0'), &rest[1..])
            }
            _ => (None, rest),
        };
        if after_fd.starts_with("<<") {
            self.pos += rest.len() - after_fd.len() + 2;
            let strip = self.peek() == Some(b'-');
            if strip {
                self.pos += 1;
            }
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.pos += 1;
            }
            let Some(Tok::Word(_, raw)) = self.word()? else {
                return Err(ParseError::Syntax("unexpected newline".into()));
            };
            let quoted = raw.contains(['\'', '"', '\\']);
            let delim: String = raw
                .chars()
                .filter(|c| !matches!(c, '\'' | '"' | '\\'))
                .collect();
            self.pending.push((delim, quoted, strip, usize::MAX));
            return Ok(Some(Tok::Redir(Redirect {
                fd: fd.unwrap_or(0),
                target: RedirectTarget::HereDoc(Vec::new()),
            })));
        }
        if after_fd.starts_with('>') || after_fd.starts_with('<') || rest.starts_with("&>") {
            let both = rest.starts_with("&>");
            let skip = rest.len() - after_fd.len();
            let input = after_fd.starts_with('<');
            let mut p = skip + 1;
            let append = !input && rest[p..].starts_with('>');
            if append || both {
                p += 1;
            }
            self.pos += p;
            let fd = fd.unwrap_or(if input { 0 } else { 1 });
            if !input && self.peek() == Some(b'&') {
                self.pos += 1;
                return match self.peek() {
                    Some(d @ b'0'..=b'2') => {
                        self.pos += 1;
                        Ok(Some(Tok::Redir(Redirect {
                            fd,
                            target: RedirectTarget::Dup(d - b'0'),
                        })))
                    }
                    _ => Err(ParseError::Syntax("unexpected redirection".into())),
                };
            }
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.pos += 1;
            }
            let Some(Tok::Word(word, _)) = self.word()? else {
                return Err(ParseError::Syntax("unexpected newline".into()));
            };
            if both {
                // `&> file` is `> file 2>&1`; the second half is added by the parser.
                return Ok(Some(Tok::Redir(Redirect {
                    fd: 3,
                    target: RedirectTarget::File(word, append),
                })));
            }
            return Ok(Some(Tok::Redir(Redirect {
                fd,
                target: RedirectTarget::File(word, append),
            })));
        }
        for op in OPS {
            if rest.starts_with(op) {
                self.pos += op.len();
                return Ok(Some(Tok::Op(op)));
            }
        }
        self.word()
    }

    /// Reads until the matching `)` of a `$(` (self.pos is just after the `(`).
    fn balanced(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let mut depth = 1;
        let mut quote: Option<u8> = None;
        while let Some(c) = self.peek() {
            self.pos += 1;
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(b'"'), b'\\') => self.pos += 1,
                (Some(_), _) => {}
                (None, b'\'' | b'"') => quote = Some(c),
                (None, b'\\') => self.pos += 1,
                (None, b'(') => depth += 1,
                (None, b')') => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(self.text[start..self.pos - 1].to_string());
                    }
                }
                _ => {}
            }
        }
        Err(ParseError::Syntax("unterminated quoted string".into()))
    }

    fn dollar(&mut self, quoted: bool) -> Result<Part, ParseError> {
        // self.pos is at '$'
        self.pos += 1;
        match self.peek() {
            Some(b'(') if self.src.get(self.pos + 1) == Some(&b'(') => {
                self.pos += 2;
                let inner = self.balanced()?;
                // The outer `)` of `$((...))`.
                if self.peek() == Some(b')') {
                    self.pos += 1;
                    Ok(Part::Arith(inner))
                } else {
                    Err(ParseError::Syntax("missing '))'".into()))
                }
            }
            Some(b'(') => {
                self.pos += 1;
                Ok(Part::Subst(self.balanced()?, quoted))
            }
            Some(b'{') => {
                self.pos += 1;
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.pos += 1;
                }
                let name = self.text[start..self.pos].to_string();
                if self.text[self.pos..].starts_with(":-") || self.text[self.pos..].starts_with('-')
                {
                    self.pos += if self.text[self.pos..].starts_with(":-") {
                        2
                    } else {
                        1
                    };
                    let dstart = self.pos;
                    while self.peek().is_some_and(|c| c != b'}') {
                        self.pos += 1;
                    }
                    let default = self.text[dstart..self.pos].to_string();
                    self.pos += 1;
                    let parts = Lexer::word_parts(&default, quoted)?;
                    return Ok(Part::Var(name, Some(parts), quoted));
                }
                if self.peek() != Some(b'}') || name.is_empty() {
                    return Err(ParseError::Unsupported(
                        "parameter expansions other than ${NAME} and ${NAME:-default}".into(),
                    ));
                }
                self.pos += 1;
                Ok(Part::Var(name, None, quoted))
            }
            Some(c)
                if c == b'?'
                    || c == b'$'
                    || c == b'#'
                    || c == b'@'
                    || c == b'*'
                    || c.is_ascii_digit() =>
            {
                self.pos += 1;
                Ok(Part::Var((c as char).to_string(), None, quoted))
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.pos += 1;
                }
                Ok(Part::Var(
                    self.text[start..self.pos].to_string(),
                    None,
                    quoted,
                ))
            }
            _ => Ok(Part::Lit("$".into(), quoted)),
        }
    }

    /// The parts of a default value in `${X:-...}`.
    fn word_parts(text: &str, quoted: bool) -> Result<Vec<Part>, ParseError> {
        let mut lx = Lexer {
            src: text.as_bytes(),
            text,
            pos: 0,
            pending: Vec::new(),
        };
        let mut parts = Vec::new();
        let mut lit = String::new();
        while let Some(c) = lx.peek() {
            if c == b'$' {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit), quoted));
                }
                parts.push(lx.dollar(quoted)?);
            } else {
                lit.push(c as char);
                lx.pos += 1;
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit, quoted));
        }
        Ok(parts)
    }

    fn word(&mut self) -> Result<Option<Tok>, ParseError> {
        let start = self.pos;
        let mut parts: Word = Vec::new();
        let mut lit = String::new();
        let mut lit_quoted = false;
        macro_rules! flush {
            ($q:expr) => {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit), lit_quoted));
                }
                lit_quoted = $q;
            };
        }
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' => {
                    break;
                }
                b'\'' => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit), lit_quoted));
                    }
                    self.pos += 1;
                    let s = self.pos;
                    while self.peek().is_some_and(|c| c != b'\'') {
                        self.pos += 1;
                    }
                    if self.peek().is_none() {
                        return Err(ParseError::Syntax("unterminated quoted string".into()));
                    }
                    parts.push(Part::Lit(self.text[s..self.pos].to_string(), true));
                    self.pos += 1;
                    lit_quoted = false;
                }
                b'"' => {
                    flush!(true);
                    self.pos += 1;
                    // An empty "" still makes a (possibly empty) word.
                    parts.push(Part::Lit(String::new(), true));
                    loop {
                        match self.peek() {
                            None => {
                                return Err(ParseError::Syntax(
                                    "unterminated quoted string".into(),
                                ));
                            }
                            Some(b'"') => {
                                self.pos += 1;
                                break;
                            }
                            Some(b'\\') => {
                                let n = self.src.get(self.pos + 1).copied();
                                match n {
                                    Some(b'"' | b'\\' | b'$' | b'`') => {
                                        lit.push(n.unwrap_or_default() as char);
                                        self.pos += 2;
                                    }
                                    Some(b'\n') => self.pos += 2,
                                    _ => {
                                        lit.push('\\');
                                        self.pos += 1;
                                    }
                                }
                            }
                            Some(b'$') => {
                                flush!(true);
                                parts.push(self.dollar(true)?);
                            }
                            Some(b'`') => {
                                flush!(true);
                                parts.push(self.backtick(true)?);
                            }
                            Some(_) => {
                                let ch = self.text[self.pos..].chars().next().unwrap_or(' ');
                                lit.push(ch);
                                self.pos += ch.len_utf8();
                            }
                        }
                    }
                    flush!(false);
                }
                b'\\' => {
                    flush!(true);
                    if let Some(ch) = self.text.get(self.pos + 1..).and_then(|s| s.chars().next()) {
                        lit.push(ch);
                        self.pos += 1 + ch.len_utf8();
                    } else {
                        self.pos += 1;
                    }
                    flush!(false);
                }
                b'$' => {
                    flush!(false);
                    parts.push(self.dollar(false)?);
                }
                b'`' => {
                    flush!(false);
                    parts.push(self.backtick(false)?);
                }
                _ => {
                    let ch = self.text[self.pos..].chars().next().unwrap_or(' ');
                    lit.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit, lit_quoted));
        }
        if self.pos == start {
            return Err(ParseError::Syntax(format!(
                "unexpected \"{}\"",
                self.text[self.pos..].chars().next().unwrap_or(' ')
            )));
        }
        Ok(Some(Tok::Word(
            parts,
            self.text[start..self.pos].to_string(),
        )))
    }

    fn backtick(&mut self, quoted: bool) -> Result<Part, ParseError> {
        self.pos += 1;
        let s = self.pos;
        while self.peek().is_some_and(|c| c != b'`') {
            self.pos += 1;
        }
        if self.peek().is_none() {
            return Err(ParseError::Syntax("unterminated quoted string".into()));
        }
        let inner = self.text[s..self.pos].to_string();
        self.pos += 1;
        Ok(Part::Subst(inner, quoted))
    }
}

/// Parses a whole script.
pub(crate) fn parse(script: &str) -> Result<Arc<Node>, ParseError> {
    let toks = Lexer::tokens(script)?;
    let mut p = Parser { toks, pos: 0 };
    let node = p.list(&[])?;
    if p.pos < p.toks.len() {
        return Err(p.unexpected());
    }
    Ok(node)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

const RESERVED: [&str; 12] = [
    "then", "do", "done", "fi", "elif", "else", "if", "while", "until", "for", "in", "case",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_keyword(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(_, raw)) if RESERVED.contains(&raw.as_str()) => Some(raw.as_str()),
            Some(Tok::Op(op @ ("{" | "}"))) => Some(op),
            _ => None,
        }
    }

    fn unexpected(&self) -> ParseError {
        match self.peek() {
            None => ParseError::Syntax("unexpected end of file".into()),
            Some(Tok::Newline) => ParseError::Syntax("unexpected newline".into()),
            Some(Tok::Op(op)) => ParseError::Syntax(format!("unexpected \"{op}\"")),
            Some(Tok::Word(_, raw)) => ParseError::Syntax(format!("unexpected \"{raw}\"")),
            Some(Tok::Redir(_)) => ParseError::Syntax("unexpected redirection".into()),
        }
    }

    fn skip_newlines(&mut self) {
        while matches!(self.peek(), Some(Tok::Newline)) {
            self.pos += 1;
        }
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), ParseError> {
        self.skip_newlines();
        if self.peek_keyword() == Some(kw) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    /// A list of and-or lists separated by `;`, `&` or newlines, up to one of `stops`.
    fn list(&mut self, stops: &[&str]) -> Result<Arc<Node>, ParseError> {
        let mut items = Vec::new();
        loop {
            self.skip_newlines();
            match self.peek() {
                None => break,
                Some(Tok::Op(")")) => break,
                _ => {}
            }
            if let Some(kw) = self.peek_keyword()
                && stops.contains(&kw)
            {
                break;
            }
            let item = self.and_or()?;
            match self.peek() {
                Some(Tok::Op("&")) => {
                    self.pos += 1;
                    items.push(Arc::new(Node::Background(item)));
                }
                Some(Tok::Op(";")) | Some(Tok::Newline) => {
                    self.pos += 1;
                    items.push(item);
                }
                _ => {
                    items.push(item);
                    break;
                }
            }
        }
        if items.is_empty() {
            return Err(self.unexpected());
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Arc::new(Node::Seq(items))
        })
    }

    fn and_or(&mut self) -> Result<Arc<Node>, ParseError> {
        let mut left = self.pipeline()?;
        loop {
            match self.peek() {
                Some(Tok::Op("&&")) => {
                    self.pos += 1;
                    self.skip_newlines();
                    let right = self.pipeline()?;
                    left = Arc::new(Node::And(left, right));
                }
                Some(Tok::Op("||")) => {
                    self.pos += 1;
                    self.skip_newlines();
                    let right = self.pipeline()?;
                    left = Arc::new(Node::Or(left, right));
                }
                _ => return Ok(left),
            }
        }
    }

    fn pipeline(&mut self) -> Result<Arc<Node>, ParseError> {
        let negate = matches!(self.peek(), Some(Tok::Word(_, raw)) if raw == "!");
        if negate {
            self.pos += 1;
        }
        let mut cmds = vec![self.command()?];
        while matches!(self.peek(), Some(Tok::Op("|"))) {
            self.pos += 1;
            self.skip_newlines();
            cmds.push(self.command()?);
        }
        let node = if cmds.len() == 1 {
            cmds.remove(0)
        } else {
            Arc::new(Node::Pipeline(cmds))
        };
        Ok(if negate {
            Arc::new(Node::Not(node))
        } else {
            node
        })
    }

    fn command(&mut self) -> Result<Arc<Node>, ParseError> {
        match self.peek_keyword() {
            Some("if") => {
                self.pos += 1;
                let mut branches = Vec::new();
                let mut otherwise = None;
                loop {
                    let cond = self.list(&["then"])?;
                    self.expect_keyword("then")?;
                    let body = self.list(&["elif", "else", "fi"])?;
                    branches.push((cond, body));
                    match self.peek_keyword() {
                        Some("elif") => self.pos += 1,
                        Some("else") => {
                            self.pos += 1;
                            otherwise = Some(self.list(&["fi"])?);
                            self.expect_keyword("fi")?;
                            break;
                        }
                        _ => {
                            self.expect_keyword("fi")?;
                            break;
                        }
                    }
                }
                Ok(Arc::new(Node::If {
                    branches,
                    otherwise,
                }))
            }
            Some(kw @ ("while" | "until")) => {
                let until = kw == "until";
                self.pos += 1;
                let cond = self.list(&["do"])?;
                self.expect_keyword("do")?;
                let body = self.list(&["done"])?;
                self.expect_keyword("done")?;
                Ok(Arc::new(Node::While { cond, body, until }))
            }
            Some("for") => {
                self.pos += 1;
                let var = match self.peek() {
                    Some(Tok::Word(_, raw)) => raw.clone(),
                    _ => return Err(self.unexpected()),
                };
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_newlines();
                if self.peek_keyword() == Some("in") {
                    self.pos += 1;
                    while let Some(Tok::Word(w, _)) = self.peek() {
                        items.push(w.clone());
                        self.pos += 1;
                    }
                } else {
                    items.push(vec![Part::Var("@".into(), None, true)]);
                }
                if matches!(self.peek(), Some(Tok::Op(";"))) {
                    self.pos += 1;
                }
                self.expect_keyword("do")?;
                let body = self.list(&["done"])?;
                self.expect_keyword("done")?;
                Ok(Arc::new(Node::For { var, items, body }))
            }
            Some("{") => {
                self.pos += 1;
                let body = self.list(&["}"])?;
                self.expect_keyword("}")?;
                Ok(body)
            }
            Some("case") => Err(ParseError::Unsupported("case statements".into())),
            Some(_) => Err(self.unexpected()),
            None if matches!(self.peek(), Some(Tok::Op("("))) => {
                self.pos += 1;
                let body = self.list(&[])?;
                if !matches!(self.peek(), Some(Tok::Op(")"))) {
                    return Err(self.unexpected());
                }
                self.pos += 1;
                Ok(body)
            }
            None => self.simple(),
        }
    }

    fn simple(&mut self) -> Result<Arc<Node>, ParseError> {
        let mut assigns = Vec::new();
        let mut words = Vec::new();
        let mut redirects = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Word(w, raw)) => {
                    if words.is_empty()
                        && let Some((name, _)) = raw.split_once('=')
                        && !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        && !name.as_bytes()[0].is_ascii_digit()
                    {
                        assigns.push((name.to_string(), strip_prefix_parts(w, name.len() + 1)));
                    } else {
                        if words.is_empty() && raw.ends_with("()") {
                            return Err(ParseError::Unsupported("shell functions".into()));
                        }
                        words.push(w.clone());
                    }
                    self.pos += 1;
                }
                Some(Tok::Redir(r)) => {
                    if r.fd == 3 {
                        redirects.push(Redirect {
                            fd: 1,
                            target: r.target.clone(),
                        });
                        redirects.push(Redirect {
                            fd: 2,
                            target: RedirectTarget::Dup(1),
                        });
                    } else {
                        redirects.push(r.clone());
                    }
                    self.pos += 1;
                }
                Some(Tok::Op("(")) if words.len() == 1 => {
                    return Err(ParseError::Unsupported("shell functions".into()));
                }
                _ => break,
            }
        }
        if assigns.is_empty() && words.is_empty() && redirects.is_empty() {
            return Err(self.unexpected());
        }
        Ok(Arc::new(Node::Simple {
            assigns,
            words,
            redirects,
        }))
    }
}

/// Drops the first `n` characters of a word (the `NAME=` of an assignment).
fn strip_prefix_parts(word: &Word, mut n: usize) -> Word {
    let mut out = Vec::new();
    for part in word {
        if n == 0 {
            out.push(part.clone());
            continue;
        }
        match part {
            Part::Lit(s, q) => {
                let len = s.chars().count();
                if len <= n {
                    n -= len;
                } else {
                    out.push(Part::Lit(s.chars().skip(n).collect(), *q));
                    n = 0;
                }
            }
            other => {
                n = 0;
                out.push(other.clone());
            }
        }
    }
    if out.is_empty() {
        out.push(Part::Lit(String::new(), true));
    }
    out
}
