//! `@name` completion in the composer: while the word at the caret is an `@` and the start of a
//! name, the room's members whose names start with it are offered in a list under the composer;
//! arrow keys move through it, Enter or Tab takes one, Escape closes it, and a click takes one.
//!
//! The rules are plain functions ([`query`], [`complete`], [`candidates`]), tested natively;
//! the composer keeps the list's state and draws it. The list follows the ARIA combobox pattern
//! (the textarea is the combobox, the list a `listbox`, the chosen option its active
//! descendant), so a screen reader says what is offered.

use crate::model::{is_name_char, Member, Username};

/// The most names offered at once.
pub const MAX_OFFERED: usize = 8;

/// The mention being typed when the caret is at byte `caret` of `text`: where its `@` is, and
/// the part of the name typed so far. A mention starts at the text's start or after a character
/// that cannot be in a name (as [`crate::model::mention_spans`] reads them).
pub fn query(text: &str, caret: usize) -> Option<(usize, &str)> {
    let before = text.get(..caret)?;
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !is_name_char(*c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let at = start.checked_sub(1)?;
    if before.as_bytes()[at] != b'@' {
        return None;
    }
    let after_name_char = before[..at].chars().next_back().is_some_and(is_name_char);
    let typed = &before[start..];
    (!after_name_char && typed.len() <= 32).then_some((at, typed))
}

/// The members whose names start with `typed` (ignoring case), not `me`, names only, at most
/// [`MAX_OFFERED`], online ones first, then by name.
pub fn candidates(members: &[Member], typed: &str, me: Option<&Username>) -> Vec<String> {
    let typed = typed.to_ascii_lowercase();
    let mut found: Vec<&Member> = members
        .iter()
        .filter(|m| me.is_none_or(|me| !m.username.is_same_person(me.as_str())))
        .filter(|m| m.username.key().starts_with(&typed))
        .collect();
    found.sort_by(|a, b| {
        b.online
            .cmp(&a.online)
            .then_with(|| a.username.key().cmp(&b.username.key()))
    });
    found
        .into_iter()
        .take(MAX_OFFERED)
        .map(|m| m.username.to_string())
        .collect()
}

/// `text` with the mention at `at` (typed up to `caret`) completed to `name` and a space; and
/// where the caret goes (after the space).
pub fn complete(text: &str, at: usize, caret: usize, name: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len() + name.len() + 2);
    out.push_str(&text[..at]);
    out.push('@');
    out.push_str(name);
    out.push(' ');
    let caret_after = out.len();
    out.push_str(text[caret..].strip_prefix(' ').unwrap_or(&text[caret..]));
    (out, caret_after)
}

/// The byte index in `text` of the browser's caret offset `utf16` (JavaScript counts UTF-16
/// units): clamped to the text, never inside a character.
pub fn byte_index(text: &str, utf16: usize) -> usize {
    let mut units = 0;
    for (i, c) in text.char_indices() {
        if units >= utf16 {
            return i;
        }
        units += c.len_utf16();
    }
    text.len()
}

/// The browser's caret offset (UTF-16 units) of byte index `byte` of `text`.
pub fn utf16_index(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    #[test]
    fn a_mention_is_being_typed_after_an_at_that_starts_a_word() {
        assert_eq!(query("hi @an", 6), Some((3, "an")));
        assert_eq!(query("@", 1), Some((0, "")));
        assert_eq!(query("(@bo", 4), Some((1, "bo")));
        assert_eq!(query("hi @an and more", 6), Some((3, "an")));
        // Not a mention: a mail address, no @, a space after it, the caret elsewhere.
        assert_eq!(query("mail bob@ex", 11), None);
        assert_eq!(query("plain", 5), None);
        assert_eq!(query("@ana x", 6), None);
        assert_eq!(query("é@an", 5), Some((2, "an")));
        assert_eq!(query("@an", 99), None);
    }

    #[test]
    fn candidates_start_with_what_was_typed_and_leave_me_out() {
        let member = |name: &str, online| Member {
            username: Username::parse(name).unwrap(),
            online,
            role: Role::Member,
        };
        let members = [
            member("Anna", false),
            member("ana", true),
            member("bob", true),
            member("andy", false),
        ];
        let me = Username::parse("andy").unwrap();
        assert_eq!(candidates(&members, "AN", Some(&me)), ["ana", "Anna"]);
        assert_eq!(candidates(&members, "", None).len(), 4);
        assert!(candidates(&members, "z", None).is_empty());
    }

    #[test]
    fn completing_replaces_what_was_typed_and_puts_the_caret_after_a_space() {
        assert_eq!(complete("hi @an", 3, 6, "ana"), ("hi @ana ".to_owned(), 8));
        assert_eq!(
            complete("hi @an and", 3, 6, "ana"),
            ("hi @ana and".to_owned(), 8)
        );
        assert_eq!(complete("@", 0, 1, "bob"), ("@bob ".to_owned(), 5));
    }

    #[test]
    fn carets_convert_between_utf16_and_bytes() {
        let text = "é😀@an";
        // é: 2 bytes, 1 unit; 😀: 4 bytes, 2 units.
        assert_eq!(byte_index(text, 3), 6);
        assert_eq!(byte_index(text, 6), text.len());
        assert_eq!(byte_index(text, 99), text.len());
        assert_eq!(utf16_index(text, 6), 3);
        assert_eq!(utf16_index(text, text.len()), 6);
    }
}
