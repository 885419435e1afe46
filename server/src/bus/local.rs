//! The in-process bus: one node, so publishing is applying the event to this node's hub, then
//! offering it to the subscribers (a relay to other nodes, later).
//!
//! Applying comes first and synchronously, so a leave or a sign-out has cut this node's
//! sockets off before `publish` returns. Subscriber queues are bounded
//! ([`SUBSCRIBER_QUEUE`](super::SUBSCRIBER_QUEUE) each); a full one turns into a `Resync` for
//! its subscriber (see `queue`), and a dropped one is forgotten at the next publish.

use super::queue::{channel, BusReceiver, BusSender};
use super::{Bus, BusEvent};
use crate::hub::Hub;
use std::sync::Mutex;

pub struct LocalBus {
    hub: Hub,
    subscribers: Mutex<Vec<BusSender>>,
    /// Events each subscriber may have waiting.
    capacity: usize,
}

impl LocalBus {
    pub fn new(hub: Hub, capacity: usize) -> Self {
        Self {
            hub,
            subscribers: Mutex::default(),
            capacity,
        }
    }
}

impl Bus for LocalBus {
    fn publish(&self, event: BusEvent) {
        self.hub.apply(&event);
        self.subscribers
            .lock()
            .expect("bus subscribers lock poisoned")
            .retain(|subscriber| subscriber.offer(event.clone()));
    }

    fn subscribe(&self) -> BusReceiver {
        let (sender, receiver) = channel(self.capacity);
        self.subscribers
            .lock()
            .expect("bus subscribers lock poisoned")
            .push(sender);
        receiver
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::SessionKey;
    use app::model::{RoomId, UserId};
    use futures::FutureExt;
    use std::sync::Arc;

    const ROOM: RoomId = RoomId(1);

    fn left(user: u64) -> BusEvent {
        BusEvent::MembershipChanged {
            room: ROOM,
            user: UserId(user),
            member: false,
            through: None,
        }
    }

    /// What `recv` answers without waiting.
    fn ready(receiver: &mut BusReceiver) -> Option<BusEvent> {
        receiver.recv().now_or_never().flatten()
    }

    #[test]
    fn a_subscriber_gets_every_event_in_publish_order() {
        let bus = LocalBus::new(Hub::default(), 8);
        let mut receiver = bus.subscribe();
        for user in 1..=5 {
            bus.publish(left(user));
        }
        for user in 1..=5 {
            assert_eq!(ready(&mut receiver), Some(left(user)));
        }
        assert_eq!(ready(&mut receiver), None);
    }

    #[test]
    fn an_overflowing_subscriber_gets_exactly_one_resync_then_events_again() {
        let bus = LocalBus::new(Hub::default(), 3);
        let mut slow = bus.subscribe();
        for user in 1..=10 {
            bus.publish(left(user));
        }
        assert_eq!(ready(&mut slow), Some(BusEvent::Resync));
        assert_eq!(
            ready(&mut slow),
            None,
            "one resync, nothing stale behind it"
        );
        bus.publish(left(11));
        assert_eq!(ready(&mut slow), Some(left(11)));
    }

    #[test]
    fn a_full_queue_stays_bounded_and_costs_other_subscribers_nothing() {
        let bus = LocalBus::new(Hub::default(), 2);
        let mut slow = bus.subscribe();
        let mut fast = bus.subscribe();
        for user in 1..=4 {
            bus.publish(left(user));
            assert_eq!(ready(&mut fast), Some(left(user)));
        }
        assert_eq!(ready(&mut slow), Some(BusEvent::Resync));
    }

    #[tokio::test]
    async fn a_waiting_subscriber_wakes_for_the_next_event() {
        let bus = Arc::new(LocalBus::new(Hub::default(), 8));
        let mut receiver = bus.subscribe();
        let waiting = tokio::spawn(async move { receiver.recv().await });
        tokio::task::yield_now().await;
        bus.publish(BusEvent::Resync);
        assert_eq!(waiting.await.unwrap(), Some(BusEvent::Resync));
    }

    #[test]
    fn a_dropped_subscriber_is_forgotten() {
        let bus = LocalBus::new(Hub::default(), 8);
        drop(bus.subscribe());
        bus.publish(left(1));
        assert!(bus.subscribers.lock().unwrap().is_empty());
    }

    #[test]
    fn publish_has_applied_the_event_to_the_hub_when_it_returns() {
        let hub = Hub::default();
        let bus = LocalBus::new(hub.clone(), 8);
        let ana = hub
            .connect(UserId(1), SessionKey("ana".into()), None)
            .unwrap();
        let bob = hub
            .connect(UserId(2), SessionKey("bob".into()), None)
            .unwrap();
        bus.publish(left(1));
        bus.publish(BusEvent::SessionEnded {
            session: SessionKey("bob".into()),
        });
        let revoked = ana.signals.take_revoked();
        assert!(revoked.rooms.contains_key(&ROOM) && !revoked.session_ended);
        assert!(bob.signals.take_revoked().session_ended);
    }
}
