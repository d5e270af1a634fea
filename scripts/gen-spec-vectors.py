#!/usr/bin/env python3
"""Writes spec/vectors/private-map-keys.json and spec/vectors/tokens.json.

An implementation independent of the Rust code, written from spec/usersig.md with Python's
standard library only, so the Rust tests that read these vectors check the code against the
spec rather than against itself. Deterministic: re-running it rewrites the same files.

    python3 scripts/gen-spec-vectors.py
"""

import base64
import hashlib
import hmac
import json
import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "spec" / "vectors"
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
SDKAPPID = 1400000000
TIME = 1700000000


def userbuf(version, user, sdkappid, room_num, expiry, privileges, room_str=None):
    u = user.encode()
    out = struct.pack(">BH", version, len(u)) + u
    out += struct.pack(">IIIII", sdkappid, room_num, expiry, privileges, 0)
    if version == 1:
        r = room_str.encode()
        out += struct.pack(">H", len(r)) + r
    return out


def usersig(identifier, expire, time, buf=None):
    content = (
        f"TLS.identifier:{identifier}\nTLS.sdkappid:{SDKAPPID}\n"
        f"TLS.time:{time}\nTLS.expire:{expire}\n"
    )
    doc = {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": SDKAPPID,
        "TLS.expire": expire,
        "TLS.time": time,
    }
    if buf is not None:
        b = base64.b64encode(buf).decode()
        content += f"TLS.userbuf:{b}\n"
        doc["TLS.userbuf"] = b
    mac = hmac.new(KEY.encode(), content.encode(), hashlib.sha256).digest()
    doc["TLS.sig"] = base64.b64encode(mac).decode()
    raw = zlib.compress(json.dumps(doc, separators=(",", ":")).encode())
    return base64.b64encode(raw).decode().replace("+", "*").replace("/", "-").replace("=", "_")


def private_map_keys():
    keys = [
        ("numeric room, all privileges", 0, "alice", 1234, TIME + 3600, 255, None),
        ("string room, enter and send", 1, "bob", 0, TIME + 600, 2 | 4 | 16, "claims-42"),
        ("string room, create only", 1, "carol", 0, TIME + 60, 1, "desk_7"),
        ("unicode userID and room", 1, "用户一", 0, TIME + 86400, 2 | 8 | 32, "房间-1"),
        ("no privileges", 0, "dave", 4294967295, 0, 0, None),
    ]
    valid = []
    for why, version, user, num, expiry, priv, room in keys:
        buf = userbuf(version, user, SDKAPPID, num, expiry, priv, room)
        valid.append(
            {
                "why": why,
                "userbufHex": buf.hex(),
                "decoded": {
                    "version": version,
                    "userID": user,
                    "sdkAppID": SDKAPPID,
                    "room": str(num) if version == 0 else room,
                    "expiry": expiry,
                    "privileges": priv,
                    "accountType": 0,
                },
                # The same key inside a UserSig, as a business server would issue it.
                "usersig": usersig(user, 3600, TIME, buf),
                "usersigTime": TIME,
                "usersigExpire": 3600,
            }
        )
    good = userbuf(1, "bob", SDKAPPID, 0, TIME, 2, "claims-42")
    rejected = [
        ("truncated in the room string", good[:-2]),
        ("truncated in the fixed fields", good[:12]),
        ("trailing byte", good + b"\x00"),
        ("unknown version 2", b"\x02" + good[1:]),
        ("userID is not UTF-8", userbuf(0, "x", SDKAPPID, 1, TIME, 2)[:3] + b"\xff" + userbuf(0, "x", SDKAPPID, 1, TIME, 2)[4:]),
        ("empty", b""),
    ]
    return {
        "about": "PrivateMapKey userbufs (spec/usersig.md, USERSIG-6) built by scripts/gen-spec-vectors.py "
        "independently of the Rust code; each valid one also inside a UserSig signed with 'key' "
        "(verify at 'usersigTime'). A decoder must refuse every 'rejected' userbuf.",
        "key": KEY,
        "sdkAppID": SDKAPPID,
        "valid": valid,
        "rejected": [{"why": w, "userbufHex": b.hex()} for w, b in rejected],
    }


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def token_key(usersig_key):
    return hmac.new(usersig_key.encode(), b"rtcroom session token v1", hashlib.sha256).digest()


def payload(sdkappid, expires_at, user, grant=None):
    u = user.encode()
    out = struct.pack(">BQQH", 1, sdkappid, expires_at, len(u)) + u
    if grant is None:
        return out + b"\x00"
    room, priv, gexp = grant
    r = room.encode()
    return out + b"\x01" + struct.pack(">H", len(r)) + r + struct.pack(">IQ", priv, gexp)


def token(tkey, body):
    return b64url(body) + "." + b64url(hmac.new(tkey, body, hashlib.sha256).digest())


def tokens():
    tkey = token_key(KEY)
    plain = payload(SDKAPPID, TIME + 3600, "alice")
    granted = payload(SDKAPPID, TIME + 3600, "bob", ("claims-42", 2 | 4 | 16, TIME + 600))
    ok = token(tkey, plain)
    tampered = bytearray(plain)
    tampered[-2] ^= 1  # the userID's last byte
    cases = [
        ("valid", ok, "alice", TIME, None),
        ("valid with a PrivateMapKey grant", token(tkey, granted), "bob", TIME, None),
        ("expired: now equals expires_at", ok, "alice", TIME + 3600, "Expired"),
        ("another user presents it", ok, "mallory", TIME, "WrongUser"),
        ("signed with another key", token(token_key("another key"), plain), "alice", TIME, "BadSignature"),
        ("payload changed after signing", b64url(bytes(tampered)) + "." + ok.split(".")[1], "alice", TIME, "BadSignature"),
        ("issued for another sdkAppID", token(tkey, payload(SDKAPPID + 1, TIME + 3600, "alice")), "alice", TIME, "WrongUser"),
        ("no signature part", b64url(plain), "alice", TIME, "Malformed"),
        ("not base64url", "alice.token!", "alice", TIME, "Malformed"),
        ("unknown version", token(tkey, b"\x02" + plain[1:]), "alice", TIME, "Malformed"),
        ("longer than 1024 characters", "A" * 1100 + "." + "B" * 43, "alice", TIME, "Malformed"),
    ]
    return {
        "about": "rtcroom session tokens (spec/usersig.md, 'Sessions') built by "
        "scripts/gen-spec-vectors.py from the documented format; verify each for (userID, "
        "sdkAppID) at 'now' with the token key derived from 'usersigKey'; 'error' is null for "
        "a token that must verify, else the reason it must be refused.",
        "usersigKey": KEY,
        "sdkAppID": SDKAPPID,
        "tokens": [
            {"why": w, "token": t, "userID": u, "now": n, "error": e} for w, t, u, n, e in cases
        ],
    }


def main():
    for name, doc in [("private-map-keys.json", private_map_keys()), ("tokens.json", tokens())]:
        (OUT / name).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote spec/vectors/{name}")


if __name__ == "__main__":
    main()
