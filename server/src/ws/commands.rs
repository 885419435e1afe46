//! What a client may ask, and the checks each request passes before it has an effect: frame
//! parsing, the subscription cap, membership, the typing throttle, the send rate limit and the
//! in-flight cap, then the effect (a subscription, a typing hint, a message queued for storage
//! whose answer arrives later through the connection's `pending`).
//!
//! Limits a client cannot exceed: 1,024 unanswered sends, 1,000 rooms, a replay of
//! [`MAX_REPLAY`](super::MAX_REPLAY) messages per subscribe (older ones come from `history`),
//! typing hints at one per two seconds per room (more are dropped).

use super::connection::{Closed, Connection};
use super::errors::{api_error_code, send_error_frame};
use crate::bus::BusEvent;
use crate::processor::{SendError, SendRequest};
use crate::store::Body;
use app::model::{ClientId, MessageBody, RoomId, MAX_CLIENT_ID_CHARS};
use app::protocol::{ClientFrame, ErrorCode, ErrorFrame, ServerFrame};
use axum::extract::ws::Message;
use futures::{FutureExt, Sink};
use tokio::sync::oneshot;

/// Messages one connection may have submitted and not yet had answered.
const MAX_IN_FLIGHT: usize = 1024;
/// Rooms one connection may listen to at once.
const MAX_SUBSCRIPTIONS: usize = 1000;

impl<W> Connection<W>
where
    W: Sink<Message> + Unpin,
{
    pub(super) async fn on_message(&mut self, message: Message) -> Result<(), Closed> {
        match message {
            Message::Text(text) => match serde_json::from_str::<ClientFrame>(&text) {
                Ok(frame) => self.on_frame(frame).await,
                Err(e) => {
                    self.send_error(None, None, ErrorCode::Invalid, format!("bad frame: {e}"))
                        .await
                }
            },
            Message::Binary(_) => {
                self.send_error(
                    None,
                    None,
                    ErrorCode::Invalid,
                    "binary frames are not supported; send JSON text frames".into(),
                )
                .await
            }
            Message::Close(_) => Err(Closed),
            Message::Ping(_) | Message::Pong(_) => Ok(()),
        }
    }

    async fn on_frame(&mut self, frame: ClientFrame) -> Result<(), Closed> {
        match frame {
            ClientFrame::Ping => self.send(&ServerFrame::Pong).await,
            ClientFrame::Subscribe { room_id, after_seq } => {
                self.subscribe(room_id, after_seq).await
            }
            ClientFrame::Unsubscribe { room_id } => {
                self.deps.hub.unsubscribe(room_id, self.registration.conn);
                self.cursors.remove(room_id);
                self.send(&ServerFrame::Unsubscribed { room_id }).await
            }
            ClientFrame::Send {
                room_id,
                client_id,
                content,
                reply_to,
            } => {
                let mut submitted = self.submit(room_id, &client_id, &content, reply_to);
                // A refusal from this node's state is confirmed first: on several nodes, the
                // sender may have joined through another a moment ago (one more token of the
                // rate limit, only then).
                let refused =
                    |e: &ErrorFrame| matches!(e.code, ErrorCode::NotMember | ErrorCode::NoSuchRoom);
                if submitted.as_ref().is_err_and(refused) {
                    let user = self.session.user.id;
                    if self
                        .deps
                        .authority
                        .confirm_member(user, room_id)
                        .await
                        .is_ok()
                    {
                        submitted = self.submit(room_id, &client_id, &content, reply_to);
                    }
                }
                match submitted {
                    Ok(()) => Ok(()),
                    Err(error) => self.send(&ServerFrame::Error(error)).await,
                }
            }
            ClientFrame::Typing { room_id } => self.typing(room_id).await,
            ClientFrame::SubscribeUser => self.subscribe_user().await,
        }
    }

    async fn typing(&mut self, room: RoomId) -> Result<(), Closed> {
        let user = self.session.user.id;
        if let Err(e) = self.deps.authority.confirm_member(user, room).await {
            let (code, message) = api_error_code(&e);
            return self.send_error(None, Some(room), code, message).await;
        }
        // Past the limit, hints are dropped without an answer: a typing hint is a hint.
        if self.deps.typing.check(&(user, room)).is_ok() {
            self.deps.bus.publish(BusEvent::Typing {
                room,
                user: self.session.user.username.clone(),
                from: Some(self.registration.conn),
            });
        }
        Ok(())
    }

    /// Registers with the hub, checks membership, reads the store's head, replays what the client
    /// lacks, then says `subscribed`.
    ///
    /// The order is what makes it exact. Registering first means every message stored from then
    /// on is queued for this connection; reading the head after means every message not queued
    /// is at or below the head, so the replay has it. A message stored in between is both
    /// replayed and queued, and the cursor skips the second copy. A leave that lands between
    /// registering and the membership check either finds the registration (and revokes it) or
    /// is seen by the check.
    async fn subscribe(&mut self, room: RoomId, after_seq: Option<u64>) -> Result<(), Closed> {
        if self.cursors.len() >= MAX_SUBSCRIPTIONS && !self.cursors.contains(room) {
            let message = format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection");
            return self
                .send_error(None, Some(room), ErrorCode::Invalid, message)
                .await;
        }
        let conn = self.registration.conn;
        self.deps.hub.subscribe(room, conn, self.subscriber.clone());
        let user = self.session.user.id;
        if let Err(e) = self.deps.authority.confirm_member(user, room).await {
            if !self.cursors.contains(room) {
                self.deps.hub.unsubscribe(room, conn);
            }
            let (code, message) = api_error_code(&e);
            return self.send_error(None, Some(room), code, message).await;
        }
        let head = match self.deps.messages.head(room).await {
            Ok(head) => head.last_seq,
            Err(e) => {
                tracing::error!(%room, "reading the store's head failed: {e}");
                self.cursors.remove(room);
                self.deps.hub.unsubscribe(room, conn);
                let message = "could not read this room's history; resubscribe".into();
                return self
                    .send_error(None, Some(room), ErrorCode::Internal, message)
                    .await;
            }
        };
        let start = self.cursors.start(room, after_seq, head);
        self.replay(room, head).await?;
        if !self.cursors.contains(room) {
            return Ok(()); // revoked, or the replay failed and said so
        }
        self.send(&ServerFrame::Subscribed {
            room_id: room,
            last_seq: head,
            first_seq: start.first_seq,
        })
        .await
    }

    /// Checks and queues one `send` (a reply when `reply_to` names a message); its answer
    /// arrives later through `pending`.
    fn submit(
        &mut self,
        room: RoomId,
        client_id: &str,
        content: &str,
        reply_to: Option<u64>,
    ) -> Result<(), ErrorFrame> {
        let error = |code, message: String| ErrorFrame {
            client_id: Some(client_id.chars().take(MAX_CLIENT_ID_CHARS).collect()),
            room_id: Some(room),
            code,
            message,
            retry_after_ms: None,
        };
        let parsed_id = ClientId::parse(client_id).map_err(|e| error(ErrorCode::Invalid, e.0))?;
        let body = MessageBody::parse(content).map_err(|e| error(ErrorCode::Invalid, e.0))?;
        if self.pending.len() >= MAX_IN_FLIGHT {
            return Err(ErrorFrame {
                retry_after_ms: Some(100),
                ..error(
                    ErrorCode::Overloaded,
                    format!("at most {MAX_IN_FLIGHT} unacknowledged messages per connection"),
                )
            });
        }
        let user = &self.session.user;
        if let Err(retry_after_ms) = self.deps.limiter.check(&user.id) {
            return Err(ErrorFrame {
                retry_after_ms: Some(retry_after_ms),
                ..error(ErrorCode::RateLimited, "you are sending too fast".into())
            });
        }
        self.deps
            .authority
            .check_member(user.id, room)
            .map_err(|e| {
                let (code, message) = api_error_code(&e);
                error(code, message)
            })?;
        let (reply, answer) = oneshot::channel();
        self.deps
            .processor
            .submit(SendRequest {
                room_id: room,
                actor: user.id,
                sender: user.username.clone(),
                client_id: parsed_id,
                body: match reply_to {
                    None => Body::Text(body),
                    Some(target_seq) => Body::Reply {
                        content: body,
                        target_seq,
                    },
                },
                reply,
            })
            .map_err(|e| send_error_frame(&e, error(ErrorCode::Internal, String::new())))?;
        let failed = error(ErrorCode::Internal, String::new());
        self.pending.push(
            async move {
                match answer.await {
                    Ok(Ok(ack)) => ServerFrame::Ack(ack),
                    Ok(Err(e)) => ServerFrame::Error(send_error_frame(&e, failed)),
                    Err(_) => ServerFrame::Error(send_error_frame(&SendError::Storage, failed)),
                }
            }
            .boxed(),
        );
        Ok(())
    }
}
