//! Reactions: a member marks a message with one of a few emoji, and everyone sees the counts.
//!
//! Why a fixed set ([`EMOJI`]) and not any emoji: a reaction is a vote, not a message. Six
//! choices keep the bar readable, bound what one message can carry (six emoji times the room's
//! members), and leave nothing to validate but membership of a list, so a reaction can never
//! carry text (it is not erased with its message, see `docs/storage.md`).
//!
//! A reaction is a timeline entry ([`crate::timeline::ReactionEvent`]) that *sets* one person's
//! reaction on or off (`on`), not a toggle: applying it twice changes nothing, and a batch
//! holding both settles on the later one. The browser toggles by sending the opposite of
//! what it shows.
//!
//! [`Reactions`] is a message's state after its reaction entries up to [`Reactions::seq`]:
//! the server fills it in on every history read (like an edit), and the browser applies newer
//! live entries on top, skipping what a page it read already shows. The server's index and the
//! browser's list change it with the same [`Reactions::apply`].

use crate::model::{Invalid, Username};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The emoji a message can be reacted with, in the order the picker shows them.
pub const EMOJI: [&str; 6] = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

/// One of [`EMOJI`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Emoji(String);

impl Emoji {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if EMOJI.contains(&raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid(format!(
                "a reaction must be one of {}",
                EMOJI.join(" ")
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its place in [`EMOJI`] (short for fingerprints).
    pub fn index(&self) -> usize {
        EMOJI
            .iter()
            .position(|e| *e == self.0)
            .expect("an Emoji is one of EMOJI")
    }
}

impl TryFrom<String> for Emoji {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Emoji> for String {
    fn from(emoji: Emoji) -> String {
        emoji.0
    }
}

impl fmt::Display for Emoji {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who reacted to a message with one emoji, in the order they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: Emoji,
    pub users: Vec<Username>,
}

impl Reaction {
    /// Whether the person whose [`Username::key`] is `key` is among them.
    pub fn by(&self, key: &str) -> bool {
        self.users.iter().any(|u| u.is_same_person(key))
    }
}

/// A message's reactions after its reaction entries up to `seq`, each emoji in the order it
/// was first used; an emoji nobody uses any more is gone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reactions {
    /// The newest reaction entry this shows: an entry at or below it is shown already.
    pub seq: u64,
    pub emoji: Vec<Reaction>,
}

impl Reactions {
    /// Applies the reaction entry `seq`: `user`'s `emoji` is on or off. Answers whether what
    /// is shown changed; an entry this shows already (`seq` not above [`Reactions::seq`])
    /// changes nothing.
    pub fn apply(&mut self, seq: u64, emoji: &Emoji, user: &Username, on: bool) -> bool {
        if seq <= self.seq {
            return false;
        }
        self.seq = seq;
        let at = self.emoji.iter().position(|r| r.emoji == *emoji);
        match (at, on) {
            (Some(at), true) => {
                let reaction = &mut self.emoji[at];
                if reaction.by(user.as_str()) {
                    return false;
                }
                reaction.users.push(user.clone());
            }
            (None, true) => self.emoji.push(Reaction {
                emoji: emoji.clone(),
                users: vec![user.clone()],
            }),
            (Some(at), false) => {
                let reaction = &mut self.emoji[at];
                let before = reaction.users.len();
                reaction.users.retain(|u| !u.is_same_person(user.as_str()));
                if reaction.users.len() == before {
                    return false;
                }
                if reaction.users.is_empty() {
                    self.emoji.remove(at);
                }
            }
            (None, false) => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> Username {
        Username::parse(raw).unwrap()
    }

    #[test]
    fn only_the_set_s_emoji_are_reactions() {
        for raw in EMOJI {
            assert_eq!(Emoji::parse(raw).unwrap().as_str(), raw);
            assert_eq!(EMOJI[Emoji::parse(raw).unwrap().index()], raw);
        }
        for raw in ["", "x", "👍👍", "<script>", "👎", " 👍"] {
            assert!(Emoji::parse(raw).is_err(), "{raw:?}");
        }
        assert!(serde_json::from_str::<Emoji>(r#""hello""#).is_err());
    }

    #[test]
    fn a_reaction_sets_on_or_off_in_seq_order_and_an_older_entry_changes_nothing() {
        let (up, party) = (Emoji::parse("👍").unwrap(), Emoji::parse("🎉").unwrap());
        let mut shown = Reactions::default();
        assert!(shown.apply(3, &up, &name("ana"), true));
        assert!(shown.apply(4, &party, &name("ben"), true));
        assert!(shown.apply(5, &up, &name("ben"), true));
        // On again: nothing changes but the seq.
        assert!(!shown.apply(6, &up, &name("Ana"), true));
        let counts: Vec<(&str, usize)> = shown
            .emoji
            .iter()
            .map(|r| (r.emoji.as_str(), r.users.len()))
            .collect();
        assert_eq!(counts, [("👍", 2), ("🎉", 1)]);
        assert!(shown.emoji[0].by("ana") && !shown.emoji[1].by("ana"));
        // Off, by another spelling of the same name; the emoji nobody uses goes.
        assert!(shown.apply(7, &party, &name("BEN"), false));
        assert_eq!(shown.emoji.len(), 1);
        assert!(!shown.apply(8, &party, &name("ben"), false), "off twice");
        // An entry a page already showed is skipped.
        assert!(!shown.apply(2, &up, &name("cat"), true));
        assert_eq!(shown.seq, 8);
        assert_eq!(shown.emoji[0].users.len(), 2);
    }
}
