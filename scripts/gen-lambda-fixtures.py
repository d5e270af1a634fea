#!/usr/bin/env python3
"""Writes functions/tests/fixtures/apigw-v2/<endpoint>.json: one API Gateway HTTP API
(payload format 2.0) event per endpoint, shaped as AWS delivers them to a Lambda. Placeholders
(${USER}, ${TOKEN}, ${USERSIG}, ${PUSH_URL}; ${STREAM}, ${SIGNATURE} in relay_event's, the media
relay's signed stream event) are filled in by functions/tests/lambda_handlers.rs.
Bodies are plain text except add_pusher's, which is base64 as API Gateway sends binary-safe
bodies."""
import base64
import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parent.parent / "functions/tests/fixtures/apigw-v2"
AUTH = "userID=${USER}&token=${TOKEN}"
ROOM = "fixture-room"

ENDPOINTS = {
    "get_login_info": ("GET", "utils", "userID=${USER}", None),
    "get_im_login_info": ("POST", "live_room", "", {"userID": "${USER}"}),
    "login": ("POST", "live_room", "accountType=0&sdkAppID=1400000000&userSig=${USERSIG}&userID=${USER}", {}),
    "get_push_url": ("POST", "live_room", AUTH, {"userID": "${USER}", "roomID": ROOM}),
    "create_room": ("POST", "live_room", AUTH, {"userID": "${USER}", "roomID": ROOM, "roomInfo": "fixture"}),
    "add_pusher": ("POST", "live_room", AUTH, {"roomID": ROOM, "userID": "${USER}", "userName": "${USER}",
                                              "userAvatar": "", "pushURL": "${PUSH_URL}"}),
    "pusher_heartbeat": ("POST", "live_room", AUTH, {"roomID": ROOM, "userID": "${USER}"}),
    "get_pushers": ("POST", "live_room", AUTH, {"roomID": ROOM}),
    "get_room_list": ("POST", "live_room", AUTH, {"cnt": 20, "index": 0}),
    "add_audience": ("POST", "live_room", AUTH, {"roomID": ROOM, "userID": "${USER}", "userInfo": "{\"nick\":\"v\"}"}),
    "get_audiences": ("POST", "live_room", AUTH, {"roomID": ROOM}),
    "set_custom_field": ("POST", "live_room", AUTH, {"roomID": ROOM, "fieldName": "likes", "operation": "inc", "value": 2}),
    "get_custom_info": ("POST", "live_room", AUTH, {"roomID": ROOM}),
    "merge_stream": ("POST", "live_room", AUTH, {"roomID": ROOM, "userID": "${USER}", "mergeParams": {"mainStream": "s"}}),
    "delete_audience": ("POST", "live_room", AUTH, {"roomID": ROOM, "userID": "${USER}"}),
    "delete_pusher": ("POST", "live_room", AUTH, {"roomID": ROOM, "userID": "${USER}"}),
    "destroy_room": ("POST", "live_room", AUTH, {"roomID": ROOM, "userID": "${USER}"}),
    "logout": ("POST", "live_room", AUTH, {}),
    "send_room_msg": ("POST", "live_room", AUTH, {"roomID": ROOM, "userID": "${USER}", "cmd": "CustomTextMsg",
                                                  "msg": "hello", "userName": "${USER}", "userAvatar": ""}),
    "get_room_events": ("POST", "live_room", AUTH, {"roomID": ROOM, "since": 0}),
}

# Not a client API: the media relay's stream events (spec/relay-callbacks.md).
ENDPOINTS["relay_event"] = ("POST", None, "", {"event": "publish", "stream": "${STREAM}",
                                                "relay": "relay-1", "seq": 1, "at": 1795327200000})

for api, (method, scope, query, body) in ENDPOINTS.items():
    path = f"/weapp/{scope}/{api}" if scope else "/relay/event"
    route = f"{method} /weapp/{{type}}/{api}" if scope not in ("utils", None) else f"{method} {path}"
    event = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "accept": "*/*",
            "content-type": "application/json",
            "host": "abcdef1234.execute-api.ap-guangzhou.amazonaws.com",
            "user-agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0.40 miniProgram",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.ap-guangzhou.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                     "userAgent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0.40 miniProgram"},
            "requestId": f"fixture-{api}",
            "routeKey": route,
            "stage": "$default",
            "time": "22/Nov/2026:06:00:00 +0000",
            "timeEpoch": 1795327200000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(kv.split("=", 1) for kv in query.split("&"))
    if scope not in ("utils", None):
        event["pathParameters"] = {"type": scope}
    if scope is None:
        event["headers"]["user-agent"] = "rtcroom-relay"
        event["headers"]["x-rtcroom-signature"] = "${SIGNATURE}"
        event["requestContext"]["http"]["userAgent"] = "rtcroom-relay"
    if body is not None:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":") if scope is None else None)
        if api == "add_pusher":
            event["body"] = base64.b64encode(text.encode()).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    (OUT / f"{api}.json").write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")
print(f"wrote {len(ENDPOINTS)} fixtures to {OUT}")
