// Pre-call connection test: send our camera to the server's test peer, get it back, and
// time pings on the "rtt" data channel. The offer is sent whole (non-trickle).
import { explainMediaError, renderHelp } from "./device-check.js";
import { api } from "./api.js";
import { stopStream } from "./call-core.js";

const app = document.getElementById("precall-app");
const $ = (id) => document.getElementById(id);
const startButton = $("precall-start");
const stopButton = $("precall-stop");
const stateText = $("precall-state");
const videoText = $("precall-video");
const rttText = $("precall-rtt");
const statusLine = $("precall-status");
const help = $("precall-help");
const localVideo = $("precall-local");
const echoVideo = $("precall-echo");
const GATHER_TIMEOUT_MS = 5000;
const PING_EVERY_MS = 1000;

let pc = null;
let stream = null;
let peerId = null;
let pingTimer = null;
const samples = [];

function say(text) {
  statusLine.textContent = text;
}

// The relays and policy the visit will use: with policy "relay" the browser offers TURN
// candidates only, so the test checks the path the call will take.
async function iceConfiguration() {
  const visitId = app.dataset.visitId;
  const sources = visitId
    ? [`/api/visits/${visitId}/ice-servers`, "/api/precall/ice-servers"]
    : ["/api/precall/ice-servers"];
  for (const url of sources) {
    try {
      const data = await api("GET", url);
      return {
        iceServers: data.iceServers || [],
        iceTransportPolicy: data.iceTransportPolicy === "relay" ? "relay" : "all",
      };
    } catch {
      // Try the next source, then plain STUN below.
    }
  }
  const urls = (app.dataset.stunUrls || "").split(",").filter(Boolean);
  return { iceServers: urls.length ? [{ urls }] : [] };
}

function gathered(connection) {
  if (connection.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    connection.addEventListener("icegatheringstatechange", () => {
      if (connection.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

function judge(ms) {
  if (ms < 150) return "good for video";
  if (ms < 300) return "fair: video should work, with a little delay";
  return "slow: video may stutter; try moving closer to your Wi-Fi router";
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function startPings(channel) {
  let seq = 0;
  channel.addEventListener("message", (event) => {
    const parts = String(event.data).split(" ");
    const sent = Number(parts[2]);
    if (parts[0] !== "ping" || !Number.isFinite(sent)) return;
    samples.push(performance.now() - sent);
    if (samples.length > 10) samples.shift();
    const ms = Math.round(median(samples));
    rttText.textContent = `${ms} ms (${judge(ms)})`;
    rttText.dataset.ms = String(ms);
  });
  pingTimer = setInterval(() => {
    if (channel.readyState === "open") {
      seq += 1;
      channel.send(`ping ${seq} ${performance.now()}`);
    }
  }, PING_EVERY_MS);
}

function watchEcho() {
  const report = () => {
    if (echoVideo.videoWidth > 0) {
      videoText.textContent = `Yes: your video came back (${echoVideo.videoWidth}\u00D7${echoVideo.videoHeight}).`;
    }
  };
  echoVideo.addEventListener("playing", report);
  echoVideo.addEventListener("resize", report);
}

async function start() {
  help.hidden = true;
  startButton.disabled = true;
  samples.length = 0;
  rttText.textContent = "Measuring…";
  videoText.textContent = "Not yet";
  say("Starting your camera…");
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (err) {
    renderHelp(help, explainMediaError(err));
    startButton.disabled = false;
    say("The test needs your camera.");
    rttText.textContent = "Not measured yet";
    return;
  }
  localVideo.srcObject = stream;
  say("Connecting to our server…");
  stateText.textContent = "Connecting";
  pc = new RTCPeerConnection(await iceConfiguration());
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  const channel = pc.createDataChannel("rtt");
  channel.addEventListener("open", () => startPings(channel));
  pc.addEventListener("track", (event) => {
    echoVideo.srcObject = event.streams[0] || new MediaStream([event.track]);
    echoVideo.play().catch(() => {});
  });
  pc.addEventListener("connectionstatechange", () => {
    const state = pc ? pc.connectionState : "closed";
    const words = {
      connecting: "Connecting",
      connected: "Connected",
      disconnected: "Interrupted, trying again",
      failed: "Failed: your network may block video calls",
      closed: "Finished",
    };
    stateText.textContent = words[state] || state;
    if (state === "connected") say("Connected. Watch for your video coming back.");
    if (state === "failed") {
      say("The connection failed. Try another network (for example switch between Wi-Fi and mobile data).");
      stop({ keepResults: true });
    }
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  let data;
  try {
    data = await api("POST", "/api/precall/offer", {
      sdp: pc.localDescription.sdp,
      type: pc.localDescription.type,
    });
  } catch (error) {
    say(error.messageOr(error.offline
      ? "Could not reach our server. Check your internet connection."
      : "The test could not start. Try again in a minute."));
    stateText.textContent = "Not started";
    stop({ keepResults: true });
    return;
  }
  peerId = data.id;
  await pc.setRemoteDescription({ type: data.type, sdp: data.sdp });
  stopButton.hidden = false;
  if (data.expires_in) {
    setTimeout(() => {
      if (peerId === data.id) {
        say("The test finished. Start it again if you like.");
        stop({ keepResults: true });
      }
    }, Math.max(1, data.expires_in - 5) * 1000);
  }
}

function closeServerPeer() {
  if (!peerId) return Promise.resolve();
  const id = peerId;
  peerId = null;
  return api("DELETE", `/api/precall/${encodeURIComponent(id)}`, undefined, { keepalive: true })
    .catch(() => {});
}

async function stop({ keepResults = false } = {}) {
  clearInterval(pingTimer);
  // Close the server's side first, so it is not gone already when we ask.
  await closeServerPeer();
  if (pc) {
    const old = pc;
    pc = null;
    old.close();
  }
  stopStream(stream);
  stream = null;
  localVideo.srcObject = null;
  echoVideo.srcObject = null;
  stopButton.hidden = true;
  startButton.disabled = false;
  startButton.textContent = "Run the test again";
  if (!keepResults) {
    stateText.textContent = "Stopped";
    say("Test stopped.");
  }
}

watchEcho();
startButton.addEventListener("click", start);
stopButton.addEventListener("click", () => stop());
window.addEventListener("pagehide", closeServerPeer);
