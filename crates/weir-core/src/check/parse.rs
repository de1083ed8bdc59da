//! The check expression parser: a small precedence-climbing parser with byte
//! offsets on every error, so validation can point at the exact column.
//!
//! ```text
//! expr  := or
//! or    := and ("or" and)*
//! and   := not ("and" not)*
//! not   := "not" not | cmp
//! cmp   := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
//! sum   := prod (("+" | "-") prod)*
//! prod  := unary (("*" | "/") unary)*
//! unary := "-" unary | atom
//! atom  := number | "true" | "false" | name | func "(" args ")" | "(" expr ")" | string
//! name  := ident ("." ident)*
//! ```

use super::{Expr, Func, Op};
use crate::diag::did_you_mean;

/// A parse error at a byte offset of the check text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Str(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

struct Lexer<'a> {
    text: &'a str,
    toks: Vec<(Tok, usize)>,
}

fn err(offset: usize, message: impl Into<String>, hint: Option<&str>) -> ParseError {
    ParseError {
        offset,
        message: message.into(),
        hint: hint.map(str::to_string),
    }
}

impl<'a> Lexer<'a> {
    fn run(text: &'a str) -> Result<Vec<(Tok, usize)>, ParseError> {
        let mut lx = Lexer { text, toks: Vec::new() };
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let start = i;
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => i += 1,
                b'(' => {
                    lx.toks.push((Tok::LParen, i));
                    i += 1;
                }
                b')' => {
                    lx.toks.push((Tok::RParen, i));
                    i += 1;
                }
                b',' => {
                    lx.toks.push((Tok::Comma, i));
                    i += 1;
                }
                b'"' | b'\'' => {
                    let close = text[i + 1..]
                        .find(c as char)
                        .ok_or_else(|| err(i, "unterminated string", Some("close it with the same quote")))?;
                    lx.toks.push((Tok::Str(text[i + 1..i + 1 + close].to_string()), i));
                    i += close + 2;
                }
                b'0'..=b'9' => {
                    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'_') {
                        i += 1;
                    }
                    // Exponent: 1e6, 2.5e-3.
                    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                        let mut j = i + 1;
                        if j < b.len() && (b[j] == b'-' || b[j] == b'+') {
                            j += 1;
                        }
                        if j < b.len() && b[j].is_ascii_digit() {
                            i = j;
                            while i < b.len() && b[i].is_ascii_digit() {
                                i += 1;
                            }
                        }
                    }
                    let s = text[start..i].replace('_', "");
                    let n: f64 = s
                        .parse()
                        .map_err(|_| err(start, format!("`{}` is not a number", &text[start..i]), None))?;
                    lx.toks.push((Tok::Num(n), start));
                }
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                        i += 1;
                    }
                    let word = &text[start..i];
                    if word.ends_with('.') || word.contains("..") {
                        return Err(err(
                            start,
                            format!("`{word}` is not a valid name"),
                            Some("names are dotted words, e.g. rows_in.raw"),
                        ));
                    }
                    lx.toks.push((Tok::Ident(word.to_string()), start));
                }
                _ => {
                    let two = text.get(i..i + 2).unwrap_or("");
                    let op: &'static str = match two {
                        "<=" => "<=",
                        ">=" => ">=",
                        "==" => "==",
                        "!=" => "!=",
                        "&&" | "||" => {
                            let word = if two == "&&" { "and" } else { "or" };
                            return Err(err(
                                i,
                                format!("`{two}` is not an operator here"),
                                Some(&format!("write `{word}`")),
                            ));
                        }
                        _ => match c {
                            b'<' => "<",
                            b'>' => ">",
                            b'+' => "+",
                            b'-' => "-",
                            b'*' => "*",
                            b'/' => "/",
                            b'=' => {
                                return Err(err(i, "`=` is not a comparison", Some("write `==` to compare")));
                            }
                            _ => {
                                let ch = text[i..].chars().next().unwrap_or('?');
                                return Err(err(i, format!("unexpected character `{ch}`"), None));
                            }
                        },
                    };
                    lx.toks.push((Tok::Op(op), i));
                    i += op.len();
                }
            }
        }
        lx.toks.push((Tok::End, lx.text.len()));
        Ok(lx.toks)
    }
}

/// The static type of an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Num,
    Bool,
    Str,
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::End, |t| &t.0)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(0, |t| t.1)
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == w)
    }

    fn or(&mut self) -> Result<(Expr, Ty), ParseError> {
        let mut left = self.and()?;
        while self.is_word("or") {
            let at = self.at();
            self.bump();
            let right = self.and()?;
            left = self.logic(Op::Or, left, right, at)?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<(Expr, Ty), ParseError> {
        let mut left = self.not()?;
        while self.is_word("and") {
            let at = self.at();
            self.bump();
            let right = self.not()?;
            left = self.logic(Op::And, left, right, at)?;
        }
        Ok(left)
    }

    fn logic(&self, op: Op, l: (Expr, Ty), r: (Expr, Ty), at: usize) -> Result<(Expr, Ty), ParseError> {
        if l.1 != Ty::Bool || r.1 != Ty::Bool {
            return Err(err(
                at,
                format!("`{}` joins comparisons, not numbers", op.symbol()),
                Some("e.g. rows_out > 0 and rows_out < 1e9"),
            ));
        }
        Ok((Expr::Bin(op, Box::new(l.0), Box::new(r.0)), Ty::Bool))
    }

    fn not(&mut self) -> Result<(Expr, Ty), ParseError> {
        if self.is_word("not") {
            let at = self.at();
            self.bump();
            let (e, t) = self.not()?;
            if t != Ty::Bool {
                return Err(err(at, "`not` needs a comparison after it", None));
            }
            return Ok((Expr::Not(Box::new(e)), Ty::Bool));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<(Expr, Ty), ParseError> {
        let left = self.sum()?;
        let op = match self.peek() {
            Tok::Op("<") => Op::Lt,
            Tok::Op("<=") => Op::Le,
            Tok::Op(">") => Op::Gt,
            Tok::Op(">=") => Op::Ge,
            Tok::Op("==") => Op::Eq,
            Tok::Op("!=") => Op::Ne,
            _ => return Ok(left),
        };
        let at = self.at();
        self.bump();
        let right = self.sum()?;
        if left.1 != Ty::Num || right.1 != Ty::Num {
            return Err(err(at, format!("`{}` compares numbers", op.symbol()), None));
        }
        if matches!(self.peek(), Tok::Op("<" | "<=" | ">" | ">=" | "==" | "!=")) {
            return Err(err(
                self.at(),
                "comparisons do not chain",
                Some("write `a < b and b < c`"),
            ));
        }
        Ok((Expr::Bin(op, Box::new(left.0), Box::new(right.0)), Ty::Bool))
    }

    fn sum(&mut self) -> Result<(Expr, Ty), ParseError> {
        let mut left = self.prod()?;
        loop {
            let op = match self.peek() {
                Tok::Op("+") => Op::Add,
                Tok::Op("-") => Op::Sub,
                _ => return Ok(left),
            };
            let at = self.at();
            self.bump();
            let right = self.prod()?;
            left = arith(op, left, right, at)?;
        }
    }

    fn prod(&mut self) -> Result<(Expr, Ty), ParseError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op("*") => Op::Mul,
                Tok::Op("/") => Op::Div,
                _ => return Ok(left),
            };
            let at = self.at();
            self.bump();
            let right = self.unary()?;
            left = arith(op, left, right, at)?;
        }
    }

    fn unary(&mut self) -> Result<(Expr, Ty), ParseError> {
        if matches!(self.peek(), Tok::Op("-")) {
            let at = self.at();
            self.bump();
            let (e, t) = self.unary()?;
            if t != Ty::Num {
                return Err(err(at, "`-` needs a number", None));
            }
            return Ok((Expr::Neg(Box::new(e)), Ty::Num));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<(Expr, Ty), ParseError> {
        let at = self.at();
        match self.bump() {
            Tok::Num(n) => Ok((Expr::Num(n), Ty::Num)),
            Tok::Str(s) => Ok((Expr::Str(s), Ty::Str)),
            Tok::LParen => {
                let inner = self.or()?;
                self.expect_close(at)?;
                Ok(inner)
            }
            Tok::Ident(w) if w == "true" || w == "false" => Ok((Expr::Bool(w == "true"), Ty::Bool)),
            Tok::Ident(w) if matches!(self.peek(), Tok::LParen) => self.call(&w, at),
            Tok::Ident(w) if matches!(w.as_str(), "and" | "or" | "not") => {
                Err(err(at, format!("expected a value before `{w}`"), None))
            }
            Tok::Ident(w) => Ok((Expr::Name(w), Ty::Num)),
            Tok::End => Err(err(
                at,
                "the check ends too early",
                Some("a check is a comparison, e.g. rows_out > 0"),
            )),
            Tok::RParen => Err(err(at, "unexpected `)`", None)),
            Tok::Comma => Err(err(at, "unexpected `,`", None)),
            Tok::Op(o) => Err(err(at, format!("expected a value, found `{o}`"), None)),
        }
    }

    fn expect_close(&mut self, open: usize) -> Result<(), ParseError> {
        match self.peek() {
            Tok::RParen => {
                self.bump();
                Ok(())
            }
            _ => Err(err(
                self.at(),
                "expected `)`",
                Some(&format!("to close the `(` at column {}", open + 1)),
            )),
        }
    }

    fn call(&mut self, name: &str, at: usize) -> Result<(Expr, Ty), ParseError> {
        let Some(func) = Func::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f) else {
            let hint = if matches!(name, "unique" | "not_null") {
                format!("{name}(…) is a data check: write it alone, e.g. \"{name}(user_id)\"")
            } else {
                match did_you_mean(name, Func::ALL.iter().map(|(n, _)| *n)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "functions: {}",
                        Func::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                    ),
                }
            };
            return Err(err(at, format!("unknown function `{name}`"), Some(&hint)));
        };
        let open = self.at();
        self.bump(); // (
        let mut args = Vec::new();
        if !matches!(self.peek(), Tok::RParen) {
            loop {
                let arg_at = self.at();
                let a = self.or()?;
                args.push((a, arg_at));
                if matches!(self.peek(), Tok::Comma) {
                    self.bump();
                    continue;
                }
                break;
            }
        }
        self.expect_close(open)?;
        let usage = match func {
            Func::Counter => "counter(\"dropped.*\")",
            Func::Abs => "abs(pct_change(rows_out, 1))",
            Func::NullFraction => "null_fraction(user_id)",
            Func::Distinct => "distinct(user_id)",
            Func::Lag => "lag(rows_out, 1)",
            Func::PctChange => "pct_change(rows_out, 1)",
            _ => "median(rows_out, 7)",
        };
        let bad = |msg: String| err(at, msg, Some(&format!("e.g. {usage}")));
        let out = match func {
            Func::Counter => match args.as_slice() {
                [((Expr::Str(s), _), _)] => Expr::Call(func, vec![Expr::Str(s.clone())]),
                [((Expr::Name(s), _), _)] => Expr::Call(func, vec![Expr::Str(s.clone())]),
                _ => return Err(bad("counter() takes one quoted name or glob".into())),
            },
            Func::NullFraction | Func::Distinct => match args.as_slice() {
                [((Expr::Str(s) | Expr::Name(s), _), _)] => Expr::Call(func, vec![Expr::Str(s.clone())]),
                _ => return Err(bad(format!("{name}() takes one column name"))),
            },
            Func::Abs => match args.as_slice() {
                [((e, Ty::Num), _)] => Expr::Call(func, vec![e.clone()]),
                _ => return Err(bad("abs() takes one number".into())),
            },
            _ => match args.as_slice() {
                [((e, Ty::Num), _), ((Expr::Num(n), _), n_at)] => {
                    if n.fract() != 0.0 || *n < 1.0 || *n > 1000.0 {
                        return Err(err(
                            *n_at,
                            format!("{name}() looks back a whole number of partitions from 1 to 1000, not {n}"),
                            Some(&format!("e.g. {usage}")),
                        ));
                    }
                    if e.lookback() > 0 {
                        return Err(bad(format!("{name}() cannot nest another function over history")));
                    }
                    Expr::Call(func, vec![e.clone(), Expr::Num(*n)])
                }
                [_, (_, n_at)] => {
                    return Err(err(
                        *n_at,
                        format!("{name}()'s second argument is a number of partitions"),
                        Some(&format!("e.g. {usage}")),
                    ));
                }
                _ => return Err(bad(format!("{name}() takes a value and a number of partitions"))),
            },
        };
        Ok((out, Ty::Num))
    }
}

fn arith(op: Op, l: (Expr, Ty), r: (Expr, Ty), at: usize) -> Result<(Expr, Ty), ParseError> {
    if l.1 != Ty::Num || r.1 != Ty::Num {
        return Err(err(at, format!("`{}` needs numbers on both sides", op.symbol()), None));
    }
    Ok((Expr::Bin(op, Box::new(l.0), Box::new(r.0)), Ty::Num))
}

/// Parses a check expression; it must be a comparison (a boolean).
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let (e, t) = parse_any(text)?;
    if t != Ty::Bool {
        return Err(err(0, "a check must be a comparison", Some("e.g. rows_out > 0")));
    }
    Ok(e)
}

/// Parses a derived counter's expression; it must be a number.
pub fn parse_number(text: &str) -> Result<Expr, ParseError> {
    let (e, t) = parse_any(text)?;
    if t != Ty::Num {
        return Err(err(
            0,
            "a derived counter is a number, not a comparison",
            Some("comparisons belong in checks; e.g. valid - rows_out"),
        ));
    }
    Ok(e)
}

fn parse_any(text: &str) -> Result<(Expr, Ty), ParseError> {
    let toks = Lexer::run(text)?;
    let mut p = Parser { toks, pos: 0 };
    let (e, t) = p.or()?;
    if !matches!(p.peek(), Tok::End) {
        return Err(err(
            p.at(),
            "unexpected text after the expression",
            Some("join conditions with `and` / `or`"),
        ));
    }
    Ok((e, t))
}
