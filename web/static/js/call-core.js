// The call engine shared by the patient's and the prescriber's pages.
//
// Signaling runs over socket.io (namespace /visits, see docs/signaling.md). Negotiation
// follows the W3C "perfect negotiation" pattern: both sides send offers whenever
// `negotiationneeded` fires; on a collision the polite peer (the patient, told by the
// `admitted` event) rolls back and takes the other offer, the impolite peer ignores it.
// Resilience: socket.io reconnects by itself; after every (re)connection we `join` again;
// the server re-sends `admitted` to a participant who rejoins an admitted visit, and we
// then restart ICE. A remote page reload shows up as an offer with a new DTLS fingerprint,
// which we answer from a fresh RTCPeerConnection. Measured in Chromium: a polite peer that
// rolls back an offer still being set (or an ICE-restart offer) can end up with no media,
// so the polite peer lets the impolite one offer first and does not restart a working
// connection itself; a watchdog replaces any connection that does not come up.
import { io } from "/vendor/socket.io/socket.io.esm.min.js";
import { api } from "./api.js";

const OUTBOX_LIMIT = 200;
const DISCONNECTED_GRACE_MS = 2500;
// The polite peer lets the impolite one offer first, which avoids a collision at every
// start; it offers itself only if no offer came.
const POLITE_FIRST_OFFER_DELAY_MS = 1500;
// A connection that is not up by then is replaced (by the impolite peer) with a fresh one.
const CONNECT_TIMEOUT_MS = 9000;

function fingerprint(sdp) {
  const match = /^a=fingerprint:.*$/m.exec(sdp || "");
  return match ? match[0].trim() : "";
}

const CONNECT_GUARD_MS = 8000;
// Join refusals that no retry will change.
const FINAL_JOIN_ERRORS = new Set(["not_found", "not_signed_in", "forbidden", "invalid_message"]);

// The /visits socket. socket.io reconnects a lost transport by itself, but a namespace
// connection the server never acknowledges (a failure on its side) would wait forever:
// the guard starts such an attempt over.
// `separate`: a connection of its own rather than the page's shared one (a page whose call
// may close its socket keeps its other live panels connected).
export function openVisitSocket({ shouldRetry = () => true, separate = false } = {}) {
  const socket = io("/visits", {
    path: "/socket.io",
    forceNew: separate,
    reconnectionDelay: 500,
    reconnectionDelayMax: 4000,
  });
  let timer = null;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (socket.connected || !shouldRetry()) return;
      socket.disconnect();
      socket.connect();
      arm();
    }, CONNECT_GUARD_MS);
  };
  socket.on("connect", () => clearTimeout(timer));
  socket.on("disconnect", (reason) => {
    if (reason !== "io client disconnect" && reason !== "io server disconnect") arm();
  });
  arm();
  return socket;
}

export class VisitCall extends EventTarget {
  constructor({ visitId, localStream, remoteVideo }) {
    super();
    this.visitId = visitId;
    this.localStream = localStream || null;
    this.remoteVideo = remoteVideo;
    this.socket = null;
    this.joined = false;
    this.role = null;
    this.pc = null;
    this.polite = false;
    this.iceServers = null;
    // "relay": TURN only, so neither side learns the other's address (the server says).
    this.iceTransportPolicy = "all";
    this.admitted = false;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.answerPending = false;
    this.pendingCandidates = [];
    this.outbox = [];
    this.mediaConnected = false;
    this.finished = false;
    // Audio only: our camera's track is withheld from the connection (call-quality.js).
    this.audioOnly = false;
    // The other participant's socket went away; a rejoin then means a new page or a new
    // network path, so we start from a fresh connection instead of restarting ICE.
    this.peerLeft = false;
    this.disconnectTimer = null;
    this.watchdog = null;
    // Signals and admissions are handled strictly one after another.
    this.chain = Promise.resolve();
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  status(text) {
    this.emit("status", { text });
  }

  // -- socket ---------------------------------------------------------------------------

  connect() {
    const socket = openVisitSocket({ shouldRetry: () => !this.finished });
    this.socket = socket;
    socket.on("connect", () => this.join());
    socket.on("disconnect", (reason) => {
      this.joined = false;
      if (this.finished) return;
      if (reason === "io server disconnect") return; // replaced, or refused: see handlers
      this.status("Connection to the server lost. Reconnecting…");
      this.emit("socket_lost", { reason });
    });
    socket.on("connect_error", (err) => {
      if (this.finished) return;
      const code = err && err.data && err.data.code;
      if (code === "not_signed_in" || code === "forbidden") {
        this.finished = true;
        this.emit("signed_out", { message: err.message });
        return;
      }
      this.status("Cannot reach the server. Trying again…");
    });
    socket.on("admitted", (data) => this.enqueue(() => this.onAdmitted(data)));
    socket.on("signal", (data) => this.enqueue(() => this.onSignal(data)));
    socket.on("peer_joined", (data) => this.enqueue(() => this.onPeerJoined(data)));
    socket.on("peer_left", (data) => this.enqueue(() => this.onPeerLeft(data)));
    socket.on("waiting_room", (data) => this.emit("waiting_room", data || {}));
    socket.on("visit_status", (data) => this.emit("visit_status", data || {}));
    socket.on("visit_ended", () => this.onEnded());
    socket.on("replaced", () => this.onReplaced());
    socket.on("error", (data) => {
      const code = data && data.error && data.error.code;
      if (code === "not_signed_in" && !this.finished) {
        // Signed out elsewhere (another tab, an administrator): the server is closing this
        // connection; end the media here too rather than leave a call nobody can steer.
        this.stop();
        this.finished = true;
        this.emit("signed_out", { message: data.error.message });
        return;
      }
      // Refusals of single messages (for example a late media report): not fatal.
      console.warn("signaling refused a message", data && data.event, data && data.error);
    });
  }

  enqueue(task) {
    this.chain = this.chain.then(task).catch((err) => console.warn("call step failed", err));
    return this.chain;
  }

  join() {
    this.socket.emit("join", { visit_id: this.visitId }, (ack) => {
      if (!ack || !ack.ok) {
        const error = (ack && ack.error) || {};
        if (!FINAL_JOIN_ERRORS.has(error.code)) {
          // A passing failure on the server's side: ask again shortly.
          this.status("The server is busy. Trying again…");
          setTimeout(() => this.socket.connected && !this.joined && this.join(), 2000);
          return;
        }
        this.finished = true;
        this.emit("join_refused", error);
        this.socket.disconnect();
        return;
      }
      this.joined = true;
      this.role = ack.role;
      this.emit("joined", ack);
      const queued = this.outbox.splice(0);
      for (const payload of queued) this.send(payload);
      if (this.pc && this.pc.connectionState === "connected") this.reportMedia(true);
    });
  }

  send(payload) {
    if (!this.socket || !this.socket.connected || !this.joined) {
      // Held until the next successful join; socket.io's own buffer would deliver it
      // before `join` and the server would refuse it.
      if (this.outbox.length < OUTBOX_LIMIT) this.outbox.push(payload);
      return;
    }
    this.socket.emit("signal", { visit_id: this.visitId, ...payload });
  }

  request(event) {
    return new Promise((resolve) => {
      if (!this.socket || !this.socket.connected) {
        resolve({ ok: false, error: { message: "Not connected to the server. Try again in a moment." } });
        return;
      }
      this.socket.timeout(10000).emit(event, { visit_id: this.visitId }, (err, ack) => {
        if (err) resolve({ ok: false, error: { message: "The server did not answer. Try again." } });
        else resolve(ack || { ok: false, error: {} });
      });
    });
  }

  admit() {
    return this.request("admit");
  }

  endVisit() {
    return this.request("end");
  }

  reportMedia(connected) {
    // An attended call keeps the session alive (idle.js reads this).
    document.body.dataset.inCall = connected ? "1" : "0";
    if (this.socket && this.socket.connected && this.joined) {
      this.socket.emit("media_state", { visit_id: this.visitId, connected });
    }
  }

  // A quality sample (numbers only); the server keeps one per participant per 10 s.
  reportQuality(sample) {
    if (this.socket && this.socket.connected && this.joined) {
      this.socket.emit("call_quality", { visit_id: this.visitId, ...sample });
    }
  }

  // Stop (or resume) sending our camera, keeping the microphone: saves a weak connection.
  async setAudioOnly(on) {
    this.audioOnly = on;
    const video = this.localStream ? this.localStream.getVideoTracks()[0] : null;
    if (!this.pc || !video) return;
    for (const sender of this.pc.getSenders()) {
      const kind = sender.track ? sender.track.kind : null;
      if (kind === "video" || (kind === null && !on && this.isVideoSender(sender))) {
        await sender.replaceTrack(on ? null : video);
      }
    }
  }

  isVideoSender(sender) {
    const transceiver = this.pc.getTransceivers().find((t) => t.sender === sender);
    return !!transceiver && transceiver.receiver.track.kind === "video";
  }

  // -- peer connection ------------------------------------------------------------------

  async iceServersFromApi() {
    try {
      const data = await api("GET", `/api/visits/${this.visitId}/ice-servers`);
      this.iceTransportPolicy = data.iceTransportPolicy === "relay" ? "relay" : "all";
      return data.iceServers || [];
    } catch (err) {
      console.warn("could not load ICE servers", err);
    }
    return [];
  }

  async onAdmitted(data) {
    this.admitted = true;
    this.polite = !!data.polite;
    this.iceServers = data.ice_servers || [];
    this.iceTransportPolicy = data.ice_transport_policy === "relay" ? "relay" : "all";
    const again = this.pc !== null && this.pc.signalingState !== "closed";
    if (!again) {
      this.createPeer();
      this.status("Connecting the call…");
    } else {
      // A rejoin (reload of the socket, lost network, server restart): fresh TURN
      // credentials and a new ICE session over the same peer connection. The polite peer
      // leaves a working connection to the impolite one's restart: two restarts at once
      // collide, and rolling back an ICE-restart offer is where browsers stumble.
      try {
        this.pc.setConfiguration(this.rtcConfiguration());
      } catch (err) {
        console.warn("could not update ICE servers", err);
      }
      if (!this.polite || this.pc.connectionState !== "connected") {
        this.pc.restartIce();
        this.armWatchdog(this.pc);
      }
      if (this.pc.connectionState !== "connected") this.status("Reconnecting the call…");
    }
    this.emit("admitted", { again });
  }

  async onPeerLeft(data) {
    this.peerLeft = true;
    clearTimeout(this.disconnectTimer);
    this.emit("peer_left", data || {});
  }

  async onPeerJoined(data) {
    this.emit("peer_joined", data || {});
    // The other side came back. Unless our call is demonstrably up with the page it had,
    // start over from a fresh connection rather than restarting ICE towards a page (or an
    // offer) that no longer exists.
    const stale = this.peerLeft || (this.pc && this.pc.connectionState !== "connected");
    this.peerLeft = false;
    if (this.admitted && this.pc && stale) {
      this.createPeer();
    } else if (this.admitted && this.pc && !this.polite &&
               this.pc.signalingState === "stable" && this.pc.remoteDescription) {
      // The other side came back without having left: its connection to the server broke,
      // usually because its network changed (Wi-Fi to mobile data), so its media path is
      // dead too. Restart ICE now rather than after our side notices (about 5 s, then a
      // grace period); media keeps flowing on the old path until the new one is up.
      this.pc.restartIce();
      this.armWatchdog(this.pc);
    } else if (this.pc && this.pc.signalingState === "have-local-offer" && this.pc.localDescription) {
      // Our offer may have been sent while the other side was away (a server restart):
      // send it again; a duplicate is harmless.
      this.send({ description: this.pc.localDescription.toJSON() });
    }
  }

  rtcConfiguration() {
    return { iceServers: this.iceServers || [], iceTransportPolicy: this.iceTransportPolicy };
  }

  createPeer() {
    this.closePeer();
    const pc = new RTCPeerConnection(this.rtcConfiguration());
    this.pc = pc;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.answerPending = false;
    this.pendingCandidates = [];
    const remoteStream = new MediaStream();
    if (this.remoteVideo) this.remoteVideo.srcObject = remoteStream;

    const stream = this.localStream;
    const tracks = stream ? stream.getTracks().filter((t) => t.readyState === "live") : [];
    for (const track of tracks) {
      const sender = pc.addTrack(track, stream);
      if (this.audioOnly && track.kind === "video") sender.replaceTrack(null);
    }
    // Receive both kinds even when we send neither (audio-only or no devices).
    if (!tracks.some((t) => t.kind === "video")) pc.addTransceiver("video", { direction: "recvonly" });
    if (!tracks.some((t) => t.kind === "audio")) pc.addTransceiver("audio", { direction: "recvonly" });

    pc.ontrack = ({ track }) => {
      if (pc !== this.pc) return;
      remoteStream.addTrack(track);
      this.emit("remote_track", { kind: track.kind });
      this.playRemote();
    };
    pc.onicecandidate = ({ candidate }) => {
      if (pc === this.pc && candidate && candidate.candidate) {
        this.send({ candidate: candidate.toJSON() });
      }
    };
    pc.onnegotiationneeded = async () => {
      if (pc !== this.pc) return;
      if (this.polite && !pc.remoteDescription && !pc.currentLocalDescription) {
        await new Promise((resolve) => setTimeout(resolve, POLITE_FIRST_OFFER_DELAY_MS));
        // An offer came meanwhile and our answer carried our tracks: nothing to do.
        if (pc !== this.pc || pc.signalingState !== "stable" || pc.remoteDescription) return;
      }
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        if (pc === this.pc) this.send({ description: pc.localDescription.toJSON() });
      } catch (err) {
        console.warn("could not make an offer", err);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.oniceconnectionstatechange = () => {
      if (pc !== this.pc) return;
      const state = pc.iceConnectionState;
      clearTimeout(this.disconnectTimer);
      // While the other side is away an ICE restart offer would reach nobody, or its
      // next page: wait for it to rejoin instead.
      if (this.peerLeft) return;
      if (state === "failed") {
        pc.restartIce();
        this.armWatchdog(pc);
      } else if (state === "disconnected") {
        this.disconnectTimer = setTimeout(() => {
          if (pc === this.pc && pc.iceConnectionState === "disconnected") {
            pc.restartIce();
            this.armWatchdog(pc);
          }
        }, DISCONNECTED_GRACE_MS);
      }
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      const state = pc.connectionState;
      if (state === "connected") {
        clearTimeout(this.watchdog);
        this.status("Connected.");
        if (!this.mediaConnected) {
          this.mediaConnected = true;
          this.reportMedia(true);
        }
        this.emit("media", { connected: true });
      } else if (state === "disconnected" || state === "failed") {
        this.status("The call connection dropped. Reconnecting…");
        if (this.mediaConnected) {
          this.mediaConnected = false;
          this.reportMedia(false);
        }
        this.emit("media", { connected: false });
      }
    };
    this.armWatchdog(pc);
    return pc;
  }

  // Self-healing: whatever state negotiation got into (a reloaded peer, a lost message),
  // a connection that does not come up in time is replaced by a fresh one. Only the
  // impolite peer does it, so the two sides never replace each other's new connection;
  // the polite peer follows when it sees an offer from a new connection.
  armWatchdog(pc) {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (pc !== this.pc || this.finished || pc.connectionState === "connected") return;
      if (!this.polite && !this.peerLeft && this.joined) {
        this.enqueue(() => {
          if (pc === this.pc && pc.connectionState !== "connected") {
            this.status("Still connecting… trying again.");
            this.createPeer();
          }
        });
      } else {
        this.armWatchdog(pc);
      }
    }, CONNECT_TIMEOUT_MS);
  }

  playRemote() {
    const video = this.remoteVideo;
    if (!video) return;
    const attempt = video.play();
    if (attempt && attempt.catch) {
      attempt.catch((err) => {
        if (err && err.name === "NotAllowedError") this.emit("autoplay_blocked");
      });
    }
  }

  async onSignal({ description, candidate }) {
    if (this.finished) return;
    if (!this.pc || this.pc.signalingState === "closed") {
      if (!this.iceServers) this.iceServers = await this.iceServersFromApi();
      this.createPeer();
    }
    if (description) {
      await this.onDescription(description);
    } else if (candidate) {
      await this.onCandidate(candidate);
    }
  }

  async onDescription(description) {
    let pc = this.pc;
    const current = pc.remoteDescription && pc.remoteDescription.sdp;
    if (description.type === "offer" && current &&
        fingerprint(current) !== fingerprint(description.sdp)) {
      // The other side has a new page (reload, second tab): answer from a new connection.
      pc = this.createPeer();
    }
    const readyForOffer = !this.makingOffer &&
      (pc.signalingState === "stable" || this.answerPending);
    const collision = description.type === "offer" && !readyForOffer;
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    try {
      this.answerPending = description.type === "answer";
      if (collision) {
        // The polite peer withdraws its own offer and takes the other one.
        await Promise.all([
          pc.setLocalDescription({ type: "rollback" }),
          pc.setRemoteDescription(description),
        ]);
      } else {
        await pc.setRemoteDescription(description);
      }
    } catch (err) {
      this.answerPending = false;
      if (description.type === "answer") {
        if (pc.signalingState === "have-local-offer") {
          // Our offer was answered by a page our connection cannot talk to (it was
          // reloaded): offer again from a fresh connection.
          this.createPeer();
        } else {
          console.warn("ignored an answer that does not fit", err);
        }
        return;
      }
      // An offer this connection cannot take (e.g. a changed DTLS identity): start fresh.
      pc = this.createPeer();
      await pc.setRemoteDescription(description);
    }
    this.answerPending = false;
    const queued = this.pendingCandidates.splice(0);
    for (const c of queued) await this.addCandidate(pc, c);
    if (description.type === "offer") {
      await pc.setLocalDescription();
      this.send({ description: pc.localDescription.toJSON() });
    }
  }

  async onCandidate(candidate) {
    const pc = this.pc;
    if (!pc.remoteDescription) {
      this.pendingCandidates.push(candidate);
      return;
    }
    await this.addCandidate(pc, candidate);
  }

  async addCandidate(pc, candidate) {
    try {
      await pc.addIceCandidate(candidate);
    } catch (err) {
      if (!this.ignoreOffer) console.warn("could not add an ICE candidate", err);
    }
  }

  closePeer() {
    clearTimeout(this.disconnectTimer);
    clearTimeout(this.watchdog);
    if (this.pc) {
      const old = this.pc;
      this.pc = null;
      old.ontrack = old.onicecandidate = old.onnegotiationneeded = null;
      old.oniceconnectionstatechange = old.onconnectionstatechange = null;
      old.close();
    }
    if (this.mediaConnected) {
      this.mediaConnected = false;
    }
  }

  // -- endings --------------------------------------------------------------------------

  stop() {
    this.finished = true;
    document.body.dataset.inCall = "0";
    this.closePeer();
    if (this.socket) this.socket.disconnect();
  }

  onEnded() {
    this.stop();
    this.status("The visit has ended.");
    this.emit("ended");
  }

  onReplaced() {
    this.stop();
    this.status("This visit is open in another tab.");
    this.emit("replaced");
  }

  async leave() {
    if (this.socket && this.socket.connected && this.joined) {
      await this.request("leave");
    }
    this.stop();
    this.status("You left the visit.");
  }
}

// Mute and camera buttons: the label says what a press will do.
export function wireMediaButtons(stream, muteButton, cameraButton) {
  const audio = () => (stream ? stream.getAudioTracks() : []);
  const video = () => (stream ? stream.getVideoTracks() : []);
  if (muteButton) {
    if (!audio().length) {
      muteButton.disabled = true;
      muteButton.textContent = "No microphone";
    }
    muteButton.addEventListener("click", () => {
      const muted = audio().some((t) => t.enabled);
      for (const t of audio()) t.enabled = !muted;
      muteButton.textContent = muted ? "Unmute microphone" : "Mute microphone";
      muteButton.classList.toggle("is-off", muted);
    });
  }
  if (cameraButton) {
    if (!video().length) {
      cameraButton.disabled = true;
      cameraButton.textContent = "No camera";
    }
    cameraButton.addEventListener("click", () => {
      const off = video().some((t) => t.enabled);
      for (const t of video()) t.enabled = !off;
      cameraButton.textContent = off ? "Turn camera on" : "Turn camera off";
      cameraButton.classList.toggle("is-off", off);
    });
  }
}

export function stopStream(stream) {
  if (stream) for (const track of stream.getTracks()) track.stop();
}

