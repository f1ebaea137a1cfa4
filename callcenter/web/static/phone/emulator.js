// The bundled Twilio emulator's browser phone, behind the interface of Twilio's Voice
// JavaScript SDK (`Device` and `Call`: register, incoming, accept, reject, mute,
// sendDigits, disconnect and their events), so the softphone page runs the same code
// against the emulator on a laptop as against Twilio in production.
//
// The emulator speaks JSON over a WebSocket at /_emulator/phones/<identity>: the page
// registers with its Access Token (checked as Twilio checks a Device's), is offered calls,
// answers them, and hears the far end's speech as WAV audio it plays.

class Emitter {
  #handlers = new Map();

  on(name, handler) {
    if (!this.#handlers.has(name)) this.#handlers.set(name, new Set());
    this.#handlers.get(name).add(handler);
    return this;
  }

  off(name, handler) {
    this.#handlers.get(name)?.delete(handler);
    return this;
  }

  once(name, handler) {
    const wrapped = (...args) => { this.off(name, wrapped); handler(...args); };
    return this.on(name, wrapped);
  }

  emit(name, ...args) {
    for (const handler of [...(this.#handlers.get(name) || [])]) {
      try { handler(...args); } catch (error) { console.error(error); }
    }
  }
}

export class Call extends Emitter {
  static State = { Pending: "pending", Connecting: "connecting", Open: "open", Closed: "closed" };

  #device;
  #muted = false;
  #status;

  constructor(device, message, status) {
    super();
    this.#device = device;
    this.#status = status;
    this.parameters = { CallSid: message.call_sid, From: message.from, To: message.to };
    this.customParameters = new Map(Object.entries(message.params || {}));
  }

  status() { return this.#status; }
  isMuted() { return this.#muted; }

  accept() {
    if (this.#status !== Call.State.Pending) return;
    this.#status = Call.State.Connecting;
    this.#device._send({ type: "accept", call_sid: this.parameters.CallSid });
  }

  reject() {
    if (this.#status !== Call.State.Pending) return;
    this.#device._send({ type: "reject", call_sid: this.parameters.CallSid });
    this._close("reject");
  }

  ignore() {
    if (this.#status === Call.State.Pending) this._close(null);
  }

  disconnect() {
    if (this.#status === Call.State.Closed) return;
    this.#device._send({ type: "hangup", call_sid: this.parameters.CallSid });
    this._close("disconnect");
  }

  mute(shouldMute = true) {
    if (this.#muted === Boolean(shouldMute)) return;
    this.#muted = Boolean(shouldMute);
    this.#device._send({ type: "mute", call_sid: this.parameters.CallSid, muted: this.#muted });
    this.emit("mute", this.#muted, this);
  }

  sendDigits(digits) {
    if (this.#status !== Call.State.Open) return;
    this.#device._send({ type: "digits", call_sid: this.parameters.CallSid, digits: String(digits) });
  }

  _open() {
    if (this.#status === Call.State.Closed) return;
    this.#status = Call.State.Open;
    this.emit("accept", this);
  }

  _close(event) {
    if (this.#status === Call.State.Closed) return;
    this.#status = Call.State.Closed;
    this.#device._forget(this);
    if (event) this.emit(event, this);
  }
}

export class Device extends Emitter {
  static State = {
    Unregistered: "unregistered", Registering: "registering", Registered: "registered",
    Destroyed: "destroyed",
  };

  #token;
  #url;
  #socket = null;
  #calls = new Map();
  #expiry = null;
  #retry = null;
  state = Device.State.Unregistered;

  // `options.emulator` is the emulator's phone WebSocket base (ws://host:port/_emulator/phones).
  constructor(token, options = {}) {
    super();
    this.#token = token;
    this.#url = options.emulator;
    this.identity = identityOf(token);
    this.calls = [];
  }

  get token() { return this.#token; }

  // As the SDK's: settles once the emulator has registered this phone (or refused its
  // token), so a page that rings itself right after cannot ring a phone not yet there.
  register() {
    if (this.state === Device.State.Destroyed) {
      return Promise.reject(new Error("the Device was destroyed"));
    }
    const settled = new Promise((resolve, reject) => {
      const registered = () => { this.off("error", refused); resolve(); };
      const refused = (problem) => { this.off("registered", registered); reject(new Error(problem.message)); };
      this.once("registered", registered);
      this.once("error", refused);
    });
    this.state = Device.State.Registering;
    this.emit("registering");
    this.#connect();
    return settled;
  }

  async unregister() {
    this.#closeSocket();
    this.#setUnregistered();
  }

  updateToken(token) {
    this.#token = token;
    this.#watchExpiry();
    if (this.#socket?.readyState === WebSocket.OPEN) this._send({ type: "register", token });
  }

  destroy() {
    for (const call of [...this.#calls.values()]) call.disconnect();
    this.#closeSocket();
    this.state = Device.State.Destroyed;
    this.emit("destroyed");
  }

  _send(message) {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }

  _forget(call) {
    this.#calls.delete(call.parameters.CallSid);
    this.calls = [...this.#calls.values()];
  }

  #connect() {
    const socket = new WebSocket(`${this.#url}/${encodeURIComponent(this.identity)}`);
    this.#socket = socket;
    socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "register", token: this.#token })));
    socket.addEventListener("message", (event) => this.#receive(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      if (this.state === Device.State.Destroyed) return;
      // Signalling dropped: calls survive for a while on the emulator, as on Twilio;
      // register again and the emulator says which calls we are still on.
      for (const call of this.#calls.values()) call.emit("reconnecting", { code: 53001 });
      this.#setUnregistered();
      this.#retry = setTimeout(() => this.register().catch(() => {}), 1000);
    });
  }

  #closeSocket() {
    clearTimeout(this.#retry);
    clearTimeout(this.#expiry);
    const socket = this.#socket;
    this.#socket = null;
    socket?.close();
  }

  #setUnregistered() {
    if (this.state === Device.State.Unregistered) return;
    this.state = Device.State.Unregistered;
    this.emit("unregistered");
  }

  #watchExpiry() {
    clearTimeout(this.#expiry);
    const expires = expiryOf(this.#token);
    if (!expires) return;
    // As the SDK: a little before the token runs out, so the page can fetch another.
    const lead = Math.max(0, expires - Date.now() - 30000);
    this.#expiry = setTimeout(() => this.emit("tokenWillExpire", this), lead);
  }

  #receive(message) {
    const sid = message.call_sid;
    switch (message.type) {
      case "registered":
        if (this.state !== Device.State.Registered) {
          this.state = Device.State.Registered;
          this.#watchExpiry();
          this.emit("registered");
        }
        break;
      case "error":
        this.emit("error", { code: message.code, message: message.message });
        break;
      case "offer": {
        const call = new Call(this, message, Call.State.Pending);
        this.#calls.set(sid, call);
        this.calls = [...this.#calls.values()];
        this.emit("incoming", call);
        break;
      }
      case "canceled":
        this.#calls.get(sid)?._close("cancel");
        break;
      case "connected": {
        let call = this.#calls.get(sid);
        if (!call && message.reconnected) {
          // The page was reloaded during this call: it is ours again.
          call = new Call(this, message, Call.State.Open);
          this.#calls.set(sid, call);
          this.calls = [...this.#calls.values()];
          this.emit("reconnected", call);
          break;
        }
        if (message.reconnected) call?.emit("reconnected");
        else call?._open();
        break;
      }
      case "ended":
        this.#calls.get(sid)?._close("disconnect");
        break;
      case "audio":
        if (this.#calls.has(sid)) play(message);
        break;
      default:
        break;
    }
  }
}

// The far end's speech, as the emulator rendered it (espeak-ng): played as it arrives, and
// noted on `window.phoneHeard` so a test can tell the page heard it.
function play(message) {
  const bytes = Uint8Array.from(atob(message.wav), (c) => c.charCodeAt(0));
  const url = URL.createObjectURL(new Blob([bytes], { type: "audio/wav" }));
  const audio = new Audio(url);
  audio.addEventListener("ended", () => URL.revokeObjectURL(url));
  audio.play().catch(() => {});
  (window.phoneHeard ||= []).push({ callSid: message.call_sid, text: message.text, bytes: bytes.length });
}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

function identityOf(token) { return claims(token).grants?.identity || ""; }

function expiryOf(token) {
  const exp = claims(token).exp;
  return exp ? exp * 1000 : null;
}
