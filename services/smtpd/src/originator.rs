//! The originator fields of a message (RFC 5322 §3.6.2): `From:` and
//! `Sender:`, read the way the submission check needs them.
//!
//! RFC 5322 §3.6 allows exactly one of each. A message with two `From:`
//! fields is refused rather than judged: readers disagree on which one they
//! show, so checking either one lets the other through (#16). Every address
//! of every field is returned, groups flattened, so a forged address cannot
//! hide behind an owned one in the same list.

use mail_parser::{HeaderName, HeaderValue};

/// The addresses of a message's `From:` and `Sender:` fields, lowercased.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Originator {
    /// `From:` addresses; `None` if there is no `From:` field, empty if it
    /// holds no address (a display name or an empty group only).
    pub from: Option<Vec<String>>,
    /// `Sender:` addresses; `None` if there is no `Sender:` field.
    pub sender: Option<Vec<String>>,
}

/// A field that occurs more often than RFC 5322 §3.6 allows.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Duplicate {
    /// `From` or `Sender`.
    pub field: &'static str,
    /// How many times it occurs.
    pub count: usize,
}

impl Duplicate {
    /// The SMTP reply refusing the message.
    pub fn reply(&self) -> String {
        format!(
            "550 5.6.0 Message has {} {} header fields, RFC 5322 section 3.6 allows one",
            self.count, self.field
        )
    }
}

/// Reads the originator fields from a message's header section (the
/// message as the client sent it; what follows the header section is not
/// looked at).
pub(crate) fn originator(message: &[u8]) -> Result<Originator, Duplicate> {
    let Some(parsed) = outpost_mime::parse_headers(message) else {
        return Ok(Originator::default());
    };
    let mut out = Originator::default();
    for (name, field, slot) in [
        (HeaderName::From, "From", &mut out.from),
        (HeaderName::Sender, "Sender", &mut out.sender),
    ] {
        let values: Vec<&HeaderValue> = parsed.header_values(name).collect();
        if values.len() > 1 {
            return Err(Duplicate {
                field,
                count: values.len(),
            });
        }
        if let Some(value) = values.first() {
            *slot = Some(
                value
                    .as_address()
                    .into_iter()
                    .flat_map(|a| a.iter())
                    .filter_map(|a| a.address())
                    .map(str::to_lowercase)
                    .collect(),
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(a: &[&str]) -> Option<Vec<String>> {
        Some(a.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn originator_fields() {
        let accepted: &[(&str, Originator)] = &[
            ("Subject: x\r\n\r\nbody", Originator::default()),
            (
                "From: A <A@X.example>\r\n\r\nFrom: b@x.example\r\n",
                Originator {
                    from: list(&["a@x.example"]),
                    sender: None,
                },
            ),
            (
                "From: a@x.example, B <b@x.example>\r\nSender: s@x.example\r\n\r\n",
                Originator {
                    from: list(&["a@x.example", "b@x.example"]),
                    sender: list(&["s@x.example"]),
                },
            ),
            (
                "From: Board: c@x.example, d@x.example;, a@x.example\r\n\r\n",
                Originator {
                    from: list(&["c@x.example", "d@x.example", "a@x.example"]),
                    sender: None,
                },
            ),
            (
                "From: Nobody\r\n\r\n",
                Originator {
                    from: list(&[]),
                    sender: None,
                },
            ),
            (
                "From: a@x.example\r\n\tfolded\r\n\r\n",
                Originator {
                    from: list(&["a@x.example"]),
                    sender: None,
                },
            ),
        ];
        for (input, want) in accepted {
            assert_eq!(originator(input.as_bytes()).as_ref(), Ok(want), "{input:?}");
        }
        let refused: &[(&str, &str, usize)] = &[
            ("From: a@x.example\r\nFrom: b@x.example\r\n\r\n", "From", 2),
            ("From: a@x.example\r\nfrom : b@x.example\r\n\r\n", "From", 2),
            ("FROM: a\r\nFrom: b\r\nFrom: c\r\n\r\n", "From", 3),
            (
                "Sender: a@x.example\r\nsender: b@x.example\r\n\r\n",
                "Sender",
                2,
            ),
        ];
        for (input, field, count) in refused {
            assert_eq!(
                originator(input.as_bytes()),
                Err(Duplicate {
                    field,
                    count: *count
                }),
                "{input:?}"
            );
        }
    }
}
