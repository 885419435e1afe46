//! The writer on a store several nodes write to: two processors over one PostgreSQL database,
//! each with its own access state and no relay between them, so each knows only what it reads.
//! What one node's change forbids, the other does not store.

use super::*;
use crate::hub::Hub;
use crate::newest::NewestMessages;
use crate::rooms::Timeline;
use crate::store::postgres::{scratch, PgConfig, PgStores};
use crate::store::rooms::RoomStore;
use crate::store::{Body, MemberChange};
use app::model::{ClientId, MessageBody, RoomName, UserInfo, Visibility};
use app::timeline::{Entry, Membership};

struct Node {
    processor: MessageProcessor,
    task: JoinHandle<()>,
    shutdown: CancellationToken,
}

async fn node(url: &str) -> (Node, Arc<dyn MessageStore>) {
    let stores = PgStores::open(&PgConfig {
        url: url.to_owned(),
        pool_size: 4,
    })
    .await
    .unwrap();
    let rooms: Arc<dyn RoomStore> = Arc::new(stores.rooms);
    let messages: Arc<dyn MessageStore> = Arc::new(stores.messages);
    let access = Access::load_shared(rooms).await.unwrap();
    let hub = Hub::default();
    let shutdown = CancellationToken::new();
    let (processor, task) = MessageProcessor::start(
        ProcessorConfig::default(),
        messages.clone(),
        access,
        Outlets {
            hub: hub.clone(),
            bus: Arc::new(crate::bus::LocalBus::new(hub, 8)),
            newest: NewestMessages::default(),
            search: crate::search::Search::off(),
        },
        Stats::default(),
        shutdown.clone(),
    );
    let node = Node {
        processor,
        task,
        shutdown,
    };
    (node, messages)
}

fn user(id: u64, name: &str) -> UserInfo {
    UserInfo {
        id: UserId(id),
        username: Username::parse(name).unwrap(),
    }
}

fn said(text: &str) -> Body {
    Body::Text(MessageBody::parse(text).unwrap())
}

async fn record(
    node: &Node,
    room: RoomId,
    actor: &UserInfo,
    id: &str,
    body: Body,
) -> Result<Ack, SendError> {
    node.processor
        .record(room, actor, ClientId::parse(id).unwrap(), body)
        .await
}

#[tokio::test]
async fn a_node_that_has_not_heard_of_a_kick_does_not_store_the_kicked_one_s_message() {
    let url = scratch::fresh_database().await;
    let (ana, bob) = (user(1, "ana"), user(2, "bob"));
    let creator = PgStores::open(&PgConfig {
        url: url.clone(),
        pool_size: 2,
    })
    .await
    .unwrap();
    let room = creator
        .rooms
        .create(
            ana.clone(),
            RoomName::parse("hall").unwrap(),
            Visibility::Public,
            0,
            10,
        )
        .await
        .unwrap();
    // Both nodes start knowing ana alone in the room.
    let (a, messages) = node(&url).await;
    let (b, _) = node(&url).await;

    let join = Body::Member(MemberChange::of(&bob, Membership::Join));
    record(&a, room, &bob, "join", join).await.unwrap();
    // Node b has not heard of the join: its refusal is checked against the database first.
    record(&b, room, &bob, "b1", said("hello")).await.unwrap();

    let kick = Body::Member(MemberChange::of(&bob, Membership::Leave));
    record(&a, room, &ana, "kick", kick).await.unwrap();
    // Node b still takes bob for a member; the database knows better.
    let after = record(&b, room, &bob, "b2", said("still here?")).await;
    assert!(
        matches!(
            after,
            Err(SendError::Refused(crate::access::Refusal::NotMember))
        ),
        "{after:?}"
    );
    let stored: Vec<String> = messages
        .read_range(room, 1, u64::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter_map(Entry::into_message)
        .map(|m| m.content)
        .collect();
    assert_eq!(stored, ["hello"]);
    for node in [a, b] {
        node.shutdown.cancel();
        node.task.await.unwrap();
    }
}
