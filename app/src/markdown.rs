//! Formatting in messages: a small Markdown subset, read by a well-kept parser and turned into a
//! tree the page renders as views, so that nobody's text ever becomes HTML.
//!
//! What is formatted: **bold**, *italic*, ~~struck~~, `inline code`, fenced or indented code
//! blocks, `>` quotes, and links, both `[text](https://…)` and bare `http(s)://…` in the text.
//! What is not (it shows as the text it is): raw HTML (`<b>`, `<script>`: text), images (their
//! alt text), headings and lists (their text, a list item after a bullet or its number), tables.
//!
//! Why a tree of our own between the parser and the page: the page renders [`Block`]s and
//! [`Inline`]s as Leptos views (text nodes, escaped by construction), never as raw HTML; and
//! what a link may point at is decided here, once: `http` and `https` only (a `javascript:` or
//! `data:` link is its text). Nesting is capped ([`MAX_DEPTH`]), so a message of a thousand `>`
//! cannot make a thousand nested elements.
//!
//! Newlines are kept as line breaks (people type them to mean one), which plain CommonMark
//! would fold into spaces.
//!
//! The parser is `pulldown-cmark` (the CommonMark parser of rustdoc and mdBook), without its
//! HTML renderer.
//!
//! Longer than 400 lines only with its tests (about 310 without): each rule above has its case
//! there.

use pulldown_cmark::{Event, Options, Parser, Tag};

/// A block of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Paragraph(Vec<Inline>),
    /// A code block's text, as written.
    Code(String),
    Quote(Vec<Block>),
}

/// A run of text in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    Text(String),
    Strong(Vec<Inline>),
    Emphasis(Vec<Inline>),
    Strikethrough(Vec<Inline>),
    Code(String),
    /// A link to an `http` or `https` address.
    Link {
        href: String,
        children: Vec<Inline>,
    },
    Break,
}

/// Deepest nesting of quotes, or of bold, italic, struck and links, that is formatted; deeper
/// markup shows its text only.
pub const MAX_DEPTH: usize = 8;

/// What a container being read is.
#[derive(Debug)]
enum Kind {
    Root,
    Paragraph,
    Quote,
    CodeBlock,
    /// A list, with the number of its next item (`None`: bullets).
    List(Option<u64>),
    Item,
    Strong,
    Emphasis,
    Strikethrough,
    /// A link that may be followed (`None`: its text only).
    Link(Option<String>),
    /// Anything else (headings, images, tables, …): its content, unformatted.
    Plain,
}

#[derive(Debug)]
struct Frame {
    kind: Kind,
    blocks: Vec<Block>,
    inlines: Vec<Inline>,
}

impl Frame {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            blocks: Vec::new(),
            inlines: Vec::new(),
        }
    }

    /// Its blocks, with a paragraph of the inlines not in one yet.
    fn into_blocks(mut self) -> Vec<Block> {
        flush(&mut self.blocks, &mut self.inlines);
        self.blocks
    }
}

fn flush(blocks: &mut Vec<Block>, inlines: &mut Vec<Inline>) {
    if !inlines.is_empty() {
        blocks.push(Block::Paragraph(std::mem::take(inlines)));
    }
}

/// `text` as blocks to render.
pub fn parse(text: &str) -> Vec<Block> {
    let options = Options::ENABLE_STRIKETHROUGH;
    let mut stack = vec![Frame::new(Kind::Root)];
    for event in Parser::new_ext(text, options) {
        match event {
            Event::Start(tag) => {
                let kind = kind_of(tag, &stack);
                stack.push(Frame::new(kind));
            }
            // Starts and ends come balanced: an end closes the frame on top.
            Event::End(_) if stack.len() > 1 => {
                let done = stack.pop().expect("more than the root");
                close(done, &mut stack);
            }
            Event::Text(text) => push_text(&mut stack, &text),
            Event::Code(code) => top(&mut stack)
                .inlines
                .push(Inline::Code(code.into_string())),
            // Raw HTML is shown as what it is: text.
            Event::Html(html) | Event::InlineHtml(html) => push_text(&mut stack, &html),
            Event::SoftBreak | Event::HardBreak => top(&mut stack).inlines.push(Inline::Break),
            _ => {}
        }
    }
    while stack.len() > 1 {
        let done = stack.pop().expect("more than the root");
        close(done, &mut stack);
    }
    stack.pop().expect("the root").into_blocks()
}

fn top(stack: &mut [Frame]) -> &mut Frame {
    stack.last_mut().expect("the root is never popped")
}

/// How deep `stack` already nests containers like `kind`.
fn depth(stack: &[Frame], quote: bool) -> usize {
    stack
        .iter()
        .filter(|f| match f.kind {
            Kind::Quote => quote,
            Kind::Strong | Kind::Emphasis | Kind::Strikethrough | Kind::Link(_) => !quote,
            _ => false,
        })
        .count()
}

fn kind_of(tag: Tag<'_>, stack: &[Frame]) -> Kind {
    let inline_room = depth(stack, false) < MAX_DEPTH;
    match tag {
        Tag::Paragraph | Tag::Heading { .. } => Kind::Paragraph,
        Tag::BlockQuote(_) if depth(stack, true) < MAX_DEPTH => Kind::Quote,
        Tag::CodeBlock(_) => Kind::CodeBlock,
        Tag::List(start) => Kind::List(start),
        Tag::Item => Kind::Item,
        Tag::Strong if inline_room => Kind::Strong,
        Tag::Emphasis if inline_room => Kind::Emphasis,
        Tag::Strikethrough if inline_room => Kind::Strikethrough,
        Tag::Link { dest_url, .. } if inline_room => Kind::Link(safe_href(&dest_url)),
        _ => Kind::Plain,
    }
}

/// `url` when it may be a link's target: `http` and `https` only.
fn safe_href(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then(|| url.to_owned())
}

/// Adds text to the frame on top: in a code block as it is, elsewhere with bare links found
/// (not inside a link already).
fn push_text(stack: &mut [Frame], text: &str) {
    let in_link = stack.iter().any(|f| matches!(f.kind, Kind::Link(_)));
    let frame = top(stack);
    if matches!(frame.kind, Kind::CodeBlock) || in_link {
        frame.inlines.push(Inline::Text(text.to_owned()));
        return;
    }
    frame.inlines.extend(linkify(text));
}

/// Puts a finished frame into its parent.
fn close(done: Frame, stack: &mut [Frame]) {
    let item_prefix = match (&done.kind, stack.last_mut().map(|p| &mut p.kind)) {
        (Kind::Item, Some(Kind::List(Some(n)))) => {
            let prefix = format!("{n}. ");
            *n += 1;
            Some(prefix)
        }
        (Kind::Item, _) => Some("• ".to_owned()),
        _ => None,
    };
    let parent = top(stack);
    match done.kind {
        Kind::Paragraph => {
            flush(&mut parent.blocks, &mut parent.inlines);
            parent.blocks.push(Block::Paragraph(done.inlines));
        }
        Kind::Quote => {
            flush(&mut parent.blocks, &mut parent.inlines);
            parent.blocks.push(Block::Quote(done.into_blocks()));
        }
        Kind::CodeBlock => {
            flush(&mut parent.blocks, &mut parent.inlines);
            let code: String = done
                .inlines
                .into_iter()
                .map(|i| match i {
                    Inline::Text(t) => t,
                    _ => String::new(),
                })
                .collect();
            parent
                .blocks
                .push(Block::Code(code.trim_end_matches('\n').to_owned()));
        }
        Kind::Item => {
            flush(&mut parent.blocks, &mut parent.inlines);
            let mut blocks = done.into_blocks();
            let prefix = Inline::Text(item_prefix.unwrap_or_default());
            match blocks.first_mut() {
                Some(Block::Paragraph(first)) => first.insert(0, prefix),
                _ => blocks.insert(0, Block::Paragraph(vec![prefix])),
            }
            parent.blocks.extend(blocks);
        }
        Kind::Strong => parent.inlines.push(Inline::Strong(done.inlines)),
        Kind::Emphasis => parent.inlines.push(Inline::Emphasis(done.inlines)),
        Kind::Strikethrough => parent.inlines.push(Inline::Strikethrough(done.inlines)),
        Kind::Link(Some(href)) => parent.inlines.push(Inline::Link {
            href,
            children: done.inlines,
        }),
        Kind::Link(None) | Kind::List(_) | Kind::Plain | Kind::Root => {
            if !done.blocks.is_empty() {
                flush(&mut parent.blocks, &mut parent.inlines);
                parent.blocks.extend(done.blocks);
            }
            parent.inlines.extend(done.inlines);
        }
    }
}

/// `text` with its bare `http://` and `https://` addresses as links. An address runs to the
/// next space; punctuation that ends a sentence (`.,;:!?`, and a closing bracket with no
/// opening one in the address) is left out of it.
pub fn linkify(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = find_address(rest) {
        let tail = &rest[start..];
        let mut end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        loop {
            let address = &tail[..end];
            let Some(last) = address.chars().next_back() else {
                break;
            };
            let unbalanced =
                last == ')' && address.matches('(').count() < address.matches(')').count();
            if ".,;:!?'\"".contains(last) || unbalanced {
                end -= last.len_utf8();
            } else {
                break;
            }
        }
        let address = &tail[..end];
        if address.len() <= "https://".len() {
            // Only a scheme: text.
            push_plain(&mut out, &rest[..start + end.max(1)]);
            rest = &rest[start + end.max(1)..];
            continue;
        }
        push_plain(&mut out, &rest[..start]);
        out.push(Inline::Link {
            href: address.to_owned(),
            children: vec![Inline::Text(address.to_owned())],
        });
        rest = &tail[end..];
    }
    push_plain(&mut out, rest);
    out
}

/// Where the next address starts in `text` (a scheme at the start or after a non-word
/// character).
fn find_address(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("http") {
        let at = from + found;
        let scheme = lower[at..].starts_with("http://") || lower[at..].starts_with("https://");
        let word_before = lower[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
        if scheme && !word_before {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

fn push_plain(out: &mut Vec<Inline>, text: &str) {
    if !text.is_empty() {
        out.push(Inline::Text(text.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Inline {
        Inline::Text(t.to_owned())
    }

    fn link(href: &str, children: Vec<Inline>) -> Inline {
        Inline::Link {
            href: href.to_owned(),
            children,
        }
    }

    #[test]
    fn the_subset_is_formatted() {
        assert_eq!(
            parse("**bold** and *it* and ~~gone~~ and `x < y`"),
            [Block::Paragraph(vec![
                Inline::Strong(vec![text("bold")]),
                text(" and "),
                Inline::Emphasis(vec![text("it")]),
                text(" and "),
                Inline::Strikethrough(vec![text("gone")]),
                text(" and "),
                Inline::Code("x < y".into()),
            ])]
        );
        assert_eq!(
            parse("> quoted\n\n```\nfn main() {}\n```"),
            [
                Block::Quote(vec![Block::Paragraph(vec![text("quoted")])]),
                Block::Code("fn main() {}".into()),
            ]
        );
        // A newline is a line break, as the person typed it.
        assert_eq!(
            parse("one\ntwo"),
            [Block::Paragraph(vec![
                text("one"),
                Inline::Break,
                text("two")
            ])]
        );
    }

    #[test]
    fn html_and_scripts_are_text() {
        for hostile in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "hi <b onclick=alert(1)>there</b>",
        ] {
            let shown: String = flatten(&parse(hostile));
            assert_eq!(shown.trim_end(), hostile, "{hostile}");
        }
    }

    #[test]
    fn only_http_and_https_links_are_links() {
        assert_eq!(
            parse("[site](https://example.org/a?b=1)"),
            [Block::Paragraph(vec![link(
                "https://example.org/a?b=1",
                vec![text("site")]
            )])]
        );
        for hostile in [
            "[click](javascript:alert(1))",
            "[click](JaVaScRiPt:alert(1))",
            "[click](data:text/html,<script>alert(1)</script>)",
            "[click](vbscript:msgbox)",
            "<javascript:alert(1)>",
            "![x](javascript:alert(1))",
        ] {
            let blocks = parse(hostile);
            assert!(!has_link(&blocks), "{hostile}: {blocks:?}");
        }
    }

    #[test]
    fn bare_addresses_become_links_without_the_punctuation_around_them() {
        assert_eq!(
            linkify("see https://example.org/x. Or (http://a.b/c) too"),
            [
                text("see "),
                link("https://example.org/x", vec![text("https://example.org/x")]),
                text(". Or ("),
                link("http://a.b/c", vec![text("http://a.b/c")]),
                text(") too"),
            ]
        );
        assert_eq!(
            linkify("https://en.wikipedia.org/wiki/Rust_(language)"),
            [link(
                "https://en.wikipedia.org/wiki/Rust_(language)",
                vec![text("https://en.wikipedia.org/wiki/Rust_(language)")]
            )]
        );
        // Not an address: a scheme alone, one inside a word, another scheme.
        for plain in [
            "https://",
            "xhttps://a.b",
            "ftp://a.b",
            "javascript:alert(1)",
        ] {
            assert!(
                linkify(plain).iter().all(|i| matches!(i, Inline::Text(_))),
                "{plain}"
            );
        }
        // Code keeps its text.
        assert_eq!(
            parse("`https://a.b/c`"),
            [Block::Paragraph(vec![Inline::Code("https://a.b/c".into())])]
        );
    }

    #[test]
    fn nesting_is_capped() {
        let deep = format!("{}deep", "> ".repeat(100));
        let blocks = parse(&deep);
        assert!(
            quote_depth(&blocks) <= MAX_DEPTH,
            "{}",
            quote_depth(&blocks)
        );
        assert_eq!(flatten(&blocks), "deep");
        let stars = format!("{}x{}", "*".repeat(60), "*".repeat(60));
        assert!(!flatten(&parse(&stars)).is_empty());
    }

    #[test]
    fn lists_and_headings_show_their_text() {
        assert_eq!(flatten(&parse("# Title")), "Title");
        assert_eq!(flatten(&parse("- a\n- b")), "• a• b");
        assert_eq!(flatten(&parse("3. c\n4. d")), "3. c4. d");
    }

    fn flatten(blocks: &[Block]) -> String {
        blocks
            .iter()
            .map(|b| match b {
                Block::Paragraph(inlines) => flatten_inlines(inlines),
                Block::Code(code) => code.clone(),
                Block::Quote(blocks) => flatten(blocks),
            })
            .collect()
    }

    fn flatten_inlines(inlines: &[Inline]) -> String {
        inlines
            .iter()
            .map(|i| match i {
                Inline::Text(t) | Inline::Code(t) => t.clone(),
                Inline::Strong(c) | Inline::Emphasis(c) | Inline::Strikethrough(c) => {
                    flatten_inlines(c)
                }
                Inline::Link { children, .. } => flatten_inlines(children),
                Inline::Break => String::new(),
            })
            .collect()
    }

    fn has_link(blocks: &[Block]) -> bool {
        fn inline_has(inlines: &[Inline]) -> bool {
            inlines.iter().any(|i| match i {
                Inline::Link { .. } => true,
                Inline::Strong(c) | Inline::Emphasis(c) | Inline::Strikethrough(c) => inline_has(c),
                _ => false,
            })
        }
        blocks.iter().any(|b| match b {
            Block::Paragraph(inlines) => inline_has(inlines),
            Block::Quote(blocks) => has_link(blocks),
            Block::Code(_) => false,
        })
    }

    fn quote_depth(blocks: &[Block]) -> usize {
        blocks
            .iter()
            .map(|b| match b {
                Block::Quote(inner) => 1 + quote_depth(inner),
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }
}
