//! A message's text as the page shows it: its Markdown subset ([`crate::markdown`]) rendered as
//! views, links that open in a new tab without handing it this page, and the reader's own
//! `@name` highlighted.
//!
//! Every piece of the person's text becomes a text node (escaped by construction); the only
//! attribute taken from it is a link's `href`, which the parser allows only for `http` and
//! `https` addresses.

use crate::markdown::{self, Block, Inline};
use crate::model::mention_spans;
use leptos::prelude::*;

/// The blocks of `text` in their `.msg-text` element, with `me_key`'s mentions (a
/// [`crate::model::Username::key`]) marked. Most messages are one paragraph: that is the
/// element itself (one element less per row of a busy room).
pub fn message_text(text: &str, me_key: Option<&str>) -> AnyView {
    match <[Block; 1]>::try_from(markdown::parse(text)) {
        Ok([Block::Paragraph(inlines)]) => {
            view! { <p class="msg-text">{inline_views(inlines, me_key)}</p> }.into_any()
        }
        Ok(one) => view! { <div class="msg-text">{blocks(one.into(), me_key)}</div> }.into_any(),
        Err(many) => view! { <div class="msg-text">{blocks(many, me_key)}</div> }.into_any(),
    }
}

fn blocks(list: Vec<Block>, me_key: Option<&str>) -> AnyView {
    list.into_iter()
        .map(|block| match block {
            Block::Paragraph(inlines) => {
                view! { <p>{inline_views(inlines, me_key)}</p> }.into_any()
            }
            Block::Code(code) => view! { <pre><code>{code}</code></pre> }.into_any(),
            Block::Quote(inner) => {
                view! { <blockquote>{blocks(inner, me_key)}</blockquote> }.into_any()
            }
        })
        .collect_view()
        .into_any()
}

fn inline_views(inlines: Vec<Inline>, me_key: Option<&str>) -> AnyView {
    inlines
        .into_iter()
        .map(|inline| match inline {
            Inline::Text(text) => mentions(text, me_key),
            Inline::Strong(c) => view! { <strong>{inline_views(c, me_key)}</strong> }.into_any(),
            Inline::Emphasis(c) => view! { <em>{inline_views(c, me_key)}</em> }.into_any(),
            Inline::Strikethrough(c) => view! { <s>{inline_views(c, me_key)}</s> }.into_any(),
            Inline::Code(code) => view! { <code>{code}</code> }.into_any(),
            Inline::Link { href, children } => view! {
                <a href=href target="_blank" rel="noopener noreferrer nofollow">
                    {inline_views(children, me_key)}
                </a>
            }
            .into_any(),
            Inline::Break => view! { <br/> }.into_any(),
        })
        .collect_view()
        .into_any()
}

/// `text` with the reader's own mentions in a `<mark>`.
fn mentions(text: String, me_key: Option<&str>) -> AnyView {
    let Some(me_key) = me_key else {
        return text.into_any();
    };
    let mine: Vec<std::ops::Range<usize>> = mention_spans(&text)
        .filter(|span| text[span.start + 1..span.end].eq_ignore_ascii_case(me_key))
        .collect();
    if mine.is_empty() {
        return text.into_any();
    }
    let mut parts = Vec::with_capacity(2 * mine.len() + 1);
    let mut at = 0;
    for span in mine {
        parts.push(text[at..span.start].to_owned().into_any());
        let name = text[span.clone()].to_owned();
        parts.push(view! { <mark class="mention">{name}</mark> }.into_any());
        at = span.end;
    }
    parts.push(text[at..].to_owned().into_any());
    parts.into_iter().collect_view().into_any()
}

/// The longest excerpt of a message quoted by a reply, in characters.
const EXCERPT_CHARS: usize = 120;

/// A short plain-text excerpt of `text` for a quote: its first line, at most
/// [`EXCERPT_CHARS`] characters, "…" when cut (shown as a text node: no formatting, no links).
pub fn excerpt(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let cut = line.char_indices().nth(EXCERPT_CHARS).map(|(at, _)| at);
    match cut {
        Some(at) => format!("{}…", &line[..at]),
        None if text.trim() != line => format!("{line} …"),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn an_excerpt_is_the_first_line_cut_at_its_length() {
        assert_eq!(excerpt("hello"), "hello");
        assert_eq!(excerpt("\n  first  \nsecond"), "first …");
        let long = "é".repeat(200);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), 121);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(""), "");
    }
}
