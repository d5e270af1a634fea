//! Room events as clients receive them (`spec/events.md`): `{seq, roomID, type, at, data}`,
//! with the 2018 payload shapes where the 2018 clients had one. The same JSON goes out over the
//! local gateway's WebSocket, the cloud's WebSocket API and `get_room_events`.

use serde_json::{Value, json};

use crate::model::{Event, EventKind};

/// The type of the event that stands for events no longer kept.
pub const RESYNC: &str = "resync";

/// Every event type a client can receive: each kind's ([`EventKind::WIRE_TYPES`]) and `resync`,
/// as `spec/asyncapi.yaml` lists them.
pub fn wire_types() -> impl Iterator<Item = &'static str> {
    EventKind::WIRE_TYPES.iter().copied().chain([RESYNC])
}

fn data(kind: &EventKind) -> Value {
    match kind {
        EventKind::MemberJoined {
            user_id,
            user_name,
            user_avatar,
        }
        | EventKind::MemberUpdated {
            user_id,
            user_name,
            user_avatar,
        } => json!({"userID": user_id, "userName": user_name, "userAvatar": user_avatar}),
        EventKind::MemberLeft { user_id, reason } | EventKind::AudienceLeft { user_id, reason } => {
            json!({"userID": user_id, "reason": reason})
        }
        EventKind::RoomDissolved { reason } => json!({ "reason": reason }),
        EventKind::AudienceJoined { user_id } => json!({ "userID": user_id }),
        EventKind::CustomChanged { field, value } => json!({"field": field, "value": value}),
        EventKind::PusherChange => json!({"cmd": kind.wire_type(), "data": ""}),
        EventKind::ChatText {
            user_id,
            nick_name,
            head_pic,
            msg,
        } => json!({
            "cmd": kind.wire_type(),
            "data": {"nickName": nick_name, "headPic": head_pic},
            "userID": user_id,
            "msg": msg,
        }),
        EventKind::ChatCmd {
            user_id,
            user_name,
            user_avatar,
            cmd,
            msg,
        } => json!({
            "cmd": kind.wire_type(),
            "data": {"userName": user_name, "userAvatar": user_avatar, "cmd": cmd, "msg": msg},
            "userID": user_id,
        }),
        EventKind::LinkMic { from, to, data } => json!({
            "cmd": kind.wire_type(),
            "data": serde_json::from_str::<Value>(data).unwrap_or(Value::Null),
            "from": from,
            "to": to,
        }),
        EventKind::C2CCustom {
            from,
            to,
            cmd,
            data,
        } => json!({
            "cmd": cmd,
            "data": serde_json::from_str::<Value>(data).unwrap_or(Value::Null),
            "from": from,
            "to": to,
        }),
        EventKind::StreamUp { user_id, stream } | EventKind::StreamDown { user_id, stream } => {
            json!({"userID": user_id, "stream": stream})
        }
        EventKind::RecordingReady {
            user_id,
            index,
            start,
            duration,
            format,
        } => json!({"userID": user_id, "index": index, "start": start, "duration": duration,
                    "format": format}),
    }
}

/// One event as clients receive it.
pub fn wire(room_id: &str, event: &Event) -> Value {
    json!({
        "seq": event.seq,
        "roomID": room_id,
        "type": event.kind.wire_type(),
        "at": event.at_ms,
        "data": data(&event.kind),
    })
}

/// The event that stands for events a client asked for but the server no longer keeps.
pub fn resync(room_id: &str, last_seq: u64, now_ms: u64) -> Value {
    json!({
        "seq": last_seq,
        "roomID": room_id,
        "type": RESYNC,
        "at": now_ms,
        "data": {"reason": "retention"},
    })
}

/// Whether `user` may see the event: events addressed to one user go to that user only.
pub fn visible_to(event: &Event, user: &str) -> bool {
    event.kind.addressee().is_none_or(|to| to == user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LeaveReason;

    #[test]
    fn every_kind_has_one_wire_name_stored_and_sent_alike() {
        use crate::model::DissolveReason;
        let user = || "u".to_owned();
        let kinds = [
            EventKind::PusherChange,
            EventKind::MemberJoined {
                user_id: user(),
                user_name: user(),
                user_avatar: user(),
            },
            EventKind::MemberUpdated {
                user_id: user(),
                user_name: user(),
                user_avatar: user(),
            },
            EventKind::MemberLeft {
                user_id: user(),
                reason: LeaveReason::Left,
            },
            EventKind::RoomDissolved {
                reason: DissolveReason::Empty,
            },
            EventKind::AudienceJoined { user_id: user() },
            EventKind::AudienceLeft {
                user_id: user(),
                reason: LeaveReason::Left,
            },
            EventKind::CustomChanged {
                field: user(),
                value: 1,
            },
            EventKind::ChatText {
                user_id: user(),
                nick_name: user(),
                head_pic: user(),
                msg: user(),
            },
            EventKind::ChatCmd {
                user_id: user(),
                user_name: user(),
                user_avatar: user(),
                cmd: user(),
                msg: user(),
            },
            EventKind::LinkMic {
                from: user(),
                to: user(),
                data: "{}".into(),
            },
            EventKind::C2CCustom {
                from: user(),
                to: user(),
                cmd: user(),
                data: "{}".into(),
            },
            EventKind::StreamUp {
                user_id: user(),
                stream: user(),
            },
            EventKind::StreamDown {
                user_id: user(),
                stream: user(),
            },
            EventKind::RecordingReady {
                user_id: user(),
                index: 1,
                start: 2,
                duration: 3,
                format: "mp4".into(),
            },
        ];
        let mut types: Vec<&str> = kinds.iter().map(EventKind::wire_type).collect();
        types.push(RESYNC);
        types.sort_unstable();
        let mut listed: Vec<&str> = wire_types().collect();
        listed.sort_unstable();
        assert_eq!(types, listed, "one kind per name");
        // Stored under the serde tag, which is the wire name but for a kind renamed on the
        // wire; stored events read back under either name.
        for kind in &kinds {
            let stored = serde_json::to_value(kind).unwrap();
            assert_eq!(stored["type"], kind.stored_type());
            assert_eq!(&serde_json::from_value::<EventKind>(stored).unwrap(), kind);
            let mut sent = serde_json::to_value(kind).unwrap();
            sent["type"] = kind.wire_type().into();
            assert_eq!(&serde_json::from_value::<EventKind>(sent).unwrap(), kind);
        }
        let ended = EventKind::RoomDissolved {
            reason: crate::model::DissolveReason::Empty,
        };
        assert_eq!(
            (ended.wire_type(), ended.stored_type()),
            ("roomClosed", "roomDissolved")
        );
    }

    #[test]
    fn events_go_out_with_the_2018_payloads() {
        let change = Event {
            seq: 3,
            at_ms: 9,
            kind: EventKind::PusherChange,
        };
        assert_eq!(
            wire("r1", &change)["data"].to_string(),
            r#"{"cmd":"notifyPusherChange","data":""}"#
        );
        assert_eq!(
            wire("r1", &change).to_string(),
            r#"{"at":9,"data":{"cmd":"notifyPusherChange","data":""},"roomID":"r1","seq":3,"type":"notifyPusherChange"}"#
        );
        let left = Event {
            seq: 4,
            at_ms: 9,
            kind: EventKind::MemberLeft {
                user_id: "u".into(),
                reason: LeaveReason::Kicked,
            },
        };
        assert_eq!(
            wire("r1", &left)["data"],
            json!({"userID": "u", "reason": "kicked"})
        );
        let text = Event {
            seq: 5,
            at_ms: 9,
            kind: EventKind::ChatText {
                user_id: "u".into(),
                nick_name: "U".into(),
                head_pic: "h".into(),
                msg: "hi".into(),
            },
        };
        assert_eq!(
            wire("r1", &text)["data"],
            json!({"cmd": "CustomTextMsg", "data": {"nickName": "U", "headPic": "h"},
                   "userID": "u", "msg": "hi"})
        );
        let mic = Event {
            seq: 6,
            at_ms: 9,
            kind: EventKind::LinkMic {
                from: "a".into(),
                to: "b".into(),
                data: r#"{"type":"request"}"#.into(),
            },
        };
        assert_eq!(wire("r1", &mic)["data"]["data"]["type"], "request");
        assert!(visible_to(&mic, "b") && !visible_to(&mic, "c"));
        let sketch = Event {
            seq: 7,
            at_ms: 9,
            kind: EventKind::C2CCustom {
                from: "b".into(),
                to: "a".into(),
                cmd: "sketchpad".into(),
                data: r#"{"msg":"x"}"#.into(),
            },
        };
        assert_eq!(
            wire("r1", &sketch)["data"],
            json!({"cmd": "sketchpad", "data": {"msg": "x"}, "from": "b", "to": "a"})
        );
        assert_eq!(wire("r1", &sketch)["type"], "C2CCustomMsg");
        assert!(visible_to(&sketch, "a") && !visible_to(&sketch, "b"));
        assert!(visible_to(&text, "c"));
    }
}
