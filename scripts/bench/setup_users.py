#!/usr/bin/env python3
"""Signs in USERS users through the public API (get_login_info, login, get_push_url,
add_pusher: 4 per multi_room) and writes a Lua table of (userID, token, roomID) for wrk."""
import json
import sys
import urllib.parse
import urllib.request

base, users, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def call(path, query, body=None):
    url = f"{base}{path}?{urllib.parse.urlencode(query)}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        answer = json.load(r)
    if answer["code"] != 0:
        sys.exit(f"{path}: {answer}")
    return answer


rows = []
for i in range(users):
    user, room = f"bench_user_{i}", f"bench_room_{i // 4}"
    sig = call("/weapp/utils/get_login_info", {"userID": user})["userSig"]
    token = call("/weapp/multi_room/login", {"accountType": 0, "sdkAppID": 1400000000, "userSig": sig, "userID": user}, {})["token"]
    auth = {"userID": user, "token": token}
    push = call("/weapp/multi_room/get_push_url", auth, {"userID": user})["pushURL"]
    call("/weapp/multi_room/add_pusher", auth, {"roomID": room, "userID": user, "userName": user, "userAvatar": "", "pushURL": push})
    rows.append((user, token, room))

with open(out, "w") as f:
    f.write("return {\n")
    for user, token, room in rows:
        f.write(f'  {{"{user}", "{token}", "{room}"}},\n')
    f.write("}\n")
