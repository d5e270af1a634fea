'use strict';
// Live rooms (liveroom.js and its live-room component): link-mic, and a viewer who joins the
// IM group before it is a viewer.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Client2018, until, sleep } = require('./client2018');
const { env } = require('./env');

const FAST = { pingEvery: 1000 };

async function signedIn(tag) {
  const p = new Client2018({ server: env.server, userID: Client2018.userID(tag), type: 'live_room', limits: FAST });
  await p.login();
  return p;
}

test('link-mic: request, response, kickout; the kicked guest leaves with code 0 and keeps watching', async (t) => {
  const anchor = await signedIn('anchor');
  const guest = await signedIn('guest');
  t.after(() => { anchor.logout(); guest.logout(); });
  const room = await anchor.createLiveRoom('link-mic');
  await guest.enterLiveRoom(room);

  // The whiteboard request the component sends before add_audience reaches the anchor.
  assert.deepEqual(await guest.sketchpadSent, { errCode: 0 });
  await until('the anchor gets the sketchpad request', () => anchor.c2c.some((m) => m.cmd === 'sketchpad'));
  assert.equal(anchor.c2c.find((m) => m.cmd === 'sketchpad').from, guest.userID);

  const accepted = guest.requestJoinPusher(10000);
  await until('the anchor hears the request', () => anchor.joinRequests.length === 1);
  assert.deepEqual(anchor.joinRequests[0], { userID: guest.userID, userName: guest.userName, userAvatar: guest.userAvatar });
  assert.deepEqual(await anchor.acceptJoinPusher(guest.userID), { errCode: 0 });
  await accepted;
  await guest.joinPusher();
  await until('the anchor sees the guest join', () => anchor.joined.includes(guest.userID));
  await until('the guest sees the anchor', () => guest.joined.includes(anchor.userID));

  const kicked = await anchor.kickoutSubPusher(guest.userID);
  assert.equal(kicked.errCode, 0, 'the component treats anything else as a failed kick');
  await until('the guest is told', () => guest.kickedOut === 1);
  await until('the guest quits pushing', () => guest.quitPusherCode !== undefined);
  assert.equal(guest.quitPusherCode, 0, 'quitPusher after a kick answers 0');
  await until('the anchor sees the guest go', () => anchor.quit.includes(guest.userID));

  // Still a viewer: the room's chat still reaches the guest.
  await anchor.sendRoomTextMsg('still there?');
  await until('the kicked guest still hears the room', () => guest.chats.some((c) => c.text === 'still there?'));
  assert.deepEqual(anchor.joined, [guest.userID]);
});

test('a viewer who joins the group before add_audience hears the room once admitted, and nothing before', async (t) => {
  const anchor = await signedIn('anchor');
  const cohost = await signedIn('cohost');
  const viewer = await signedIn('viewer');
  t.after(() => { anchor.logout(); cohost.logout(); viewer.logout(); });
  const room = await anchor.createLiveRoom('early group');
  viewer.roomID = room;
  await viewer.applyJoinBigGroup(room);
  // Before the viewer is one: a chat and a pusher change it must never hear.
  await anchor.sendRoomTextMsg('before you came');
  cohost.roomID = room;
  await cohost.joinPusher();
  await until('the anchor sees the co-host', () => anchor.joined.includes(cohost.userID));
  await sleep(500);
  assert.equal(viewer.notifies, 0);
  assert.deepEqual(viewer.chats, []);

  // What the library does next: the pushers, then add_audience.
  const pushers = await viewer.getPushers();
  assert.equal(pushers.code, 0);
  await viewer.callOk('add_audience', { userID: viewer.userID, roomID: room, userInfo: '{}' });
  await anchor.sendRoomTextMsg('welcome');
  await until('the viewer hears the room', () => viewer.chats.some((c) => c.text === 'welcome'));
  await cohost.quitPusher();
  await until('the viewer hears the pusher change', () => viewer.notifies === 1);
  await sleep(500);
  assert.deepEqual(viewer.chats.map((c) => c.text), ['welcome']);
  assert.equal(viewer.notifies, 1);
});
