'use strict';
// A fake mini-program runtime for one phone: `wx.request` and `wx.connectSocket` with the
// WeChat shapes (success/fail/complete; a SocketTask with onOpen/onMessage/onClose/onError,
// send, close), storage, and timers the phone owns, so that `kill()` can make the phone die
// mid-call: its timers stop, its requests and sockets go silent.
//
// `loadWebim(phone, config)` runs clients/miniprogram/webim_wx.js in the phone's own context,
// as a mini-program would: CommonJS, `require('../config.js')` answered with `config`, and
// no `window`, `document`, `fetch` or `WebSocket`.

const http = require('node:http');
const https = require('node:https');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const WEBIM = path.join(__dirname, '..', 'webim_wx.js');

class Phone {
  constructor(name) {
    this.name = name;
    this.dead = false;
    this.timers = new Set();
    this.sockets = new Set();
    this.storage = new Map();
    this.log = [];
    this.wx = this.makeWx();
  }

  // Timers the phone owns: they die with it.
  setTimeout(fn, ms) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.dead) fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  clearTimeout(t) {
    clearTimeout(t);
    this.timers.delete(t);
  }

  setInterval(fn, ms) {
    const t = setInterval(() => {
      if (!this.dead) fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  clearInterval(t) {
    clearInterval(t);
    this.timers.delete(t);
  }

  /** The phone drops off the network: nothing it started runs or answers any more. */
  kill() {
    this.dead = true;
    for (const t of this.timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    this.timers.clear();
    for (const ws of this.sockets) ws.close();
    this.sockets.clear();
  }

  /** The network takes the phone's sockets away (the phone lives on and notices). */
  dropSockets() {
    for (const ws of [...this.sockets]) ws.close(4999, 'network change');
  }

  makeWx() {
    const phone = this;
    return {
      request(options) {
        return phone.request(options);
      },
      connectSocket(options) {
        return phone.connectSocket(options);
      },
      setStorageSync(key, value) {
        phone.storage.set(key, JSON.stringify(value));
      },
      getStorageSync(key) {
        const v = phone.storage.get(key);
        return v === undefined ? '' : JSON.parse(v);
      },
    };
  }

  request(options) {
    const url = new URL(options.url);
    const method = (options.method || 'GET').toUpperCase();
    let body = null;
    let target = url;
    const headers = Object.assign({}, options.header || {});
    if (method === 'GET' && options.data) {
      for (const [k, v] of Object.entries(options.data)) target.searchParams.set(k, String(v));
    } else if (options.data !== undefined) {
      body = typeof options.data === 'string' ? options.data : JSON.stringify(options.data);
    }
    let aborted = false;
    const done = (fn, arg) => {
      if (aborted || this.dead) return;
      if (fn) fn(arg);
      if (options.complete) options.complete(arg);
    };
    const lib = target.protocol === 'https:' ? https : http;
    const req = lib.request(target, { method, headers, timeout: options.timeout || 60000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let data = text;
        try {
          data = JSON.parse(text);
        } catch (e) {
          // wx.request hands over text that is not JSON as it is
        }
        this.log.push({ url: target.pathname, body, code: data && data.code });
        done(options.success, { data, statusCode: res.statusCode, header: res.headers });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => {
      done(options.fail, { errMsg: 'request:fail ' + (e.message === 'timeout' ? 'timeout' : e.message) });
    });
    if (body !== null) req.write(body);
    req.end();
    return {
      abort() {
        aborted = true;
        req.destroy();
      },
    };
  }

  connectSocket(options) {
    const phone = this;
    const ws = new WebSocket(options.url);
    this.sockets.add(ws);
    const handlers = { open: [], message: [], close: [], error: [] };
    const emit = (kind, arg) => {
      if (phone.dead) return;
      for (const h of handlers[kind]) h(arg);
    };
    ws.addEventListener('open', () => emit('open', {}));
    ws.addEventListener('message', (e) => emit('message', { data: e.data }));
    ws.addEventListener('error', () => emit('error', { errMsg: 'connectSocket:fail' }));
    ws.addEventListener('close', (e) => {
      phone.sockets.delete(ws);
      emit('close', { code: e.code, reason: e.reason });
    });
    return {
      onOpen: (h) => handlers.open.push(h),
      onMessage: (h) => handlers.message.push(h),
      onClose: (h) => handlers.close.push(h),
      onError: (h) => handlers.error.push(h),
      send(o) {
        try {
          ws.send(o.data);
          if (o.success) o.success({});
        } catch (e) {
          if (o.fail) o.fail({ errMsg: 'sendSocketMessage:fail ' + e.message });
        }
      },
      close(o) {
        try {
          ws.close(o && o.code, o && o.reason);
        } catch (e) {
          ws.close();
        }
      },
      // For tests: the raw socket.
      raw: ws,
    };
  }
}

/** webim_wx.js loaded into `phone`'s own context, with `config` as its ../config.js. */
function loadWebim(phone, config) {
  const module = { exports: {} };
  const sandbox = {
    module,
    exports: module.exports,
    require(name) {
      if (name === '../config.js') return config;
      throw new Error('a mini-program file requires ' + name);
    },
    wx: phone.wx,
    console: {
      log() {},
      info() {},
      debug() {},
      warn: (...a) => phone.log.push({ warn: a.join(' ') }),
      error: (...a) => phone.log.push({ error: a.join(' ') }),
    },
    setTimeout: (fn, ms) => phone.setTimeout(fn, ms),
    clearTimeout: (t) => phone.clearTimeout(t),
    setInterval: (fn, ms) => phone.setInterval(fn, ms),
    clearInterval: (t) => phone.clearInterval(t),
    Date,
    Math,
    JSON,
    encodeURIComponent,
  };
  vm.createContext(sandbox);
  vm.runInContext(fs.readFileSync(WEBIM, 'utf8'), sandbox, { filename: WEBIM });
  return module.exports;
}

module.exports = { Phone, loadWebim };
