// Connection quality during a call, from the live connection's getStats().
//
// Every two seconds: the round trip of the selected candidate pair, the share of incoming
// packets lost and the incoming bitrate over the last interval. Two poor readings in a row
// make the call "poor" (three good ones clear it): the page then says so in plain words and
// offers audio only. A sample (numbers only, no media) goes to the server at most every ten
// seconds, so the practice can see which visits struggled (docs/signaling.md).

const SAMPLE_MS = 2000;
const REPORT_MS = 10000;
// Thresholds for a conversation: past 400 ms round trip people talk over each other; past
// 5 % loss video freezes and speech breaks up (ITU-T G.114 puts one-way delay above 400 ms
// out of bounds for conversation).
const POOR_RTT_MS = 400;
const POOR_LOSS_PERCENT = 5;
const POOR_AFTER = 2;
const GOOD_AFTER = 3;

function measure(stats, previous) {
  let rtt = null;
  let lost = 0;
  let received = 0;
  let bytes = 0;
  const byId = new Map();
  stats.forEach((s) => byId.set(s.id, s));
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = byId.get(s.selectedCandidatePairId);
      if (pair && typeof pair.currentRoundTripTime === "number") rtt = pair.currentRoundTripTime * 1000;
    } else if (s.type === "inbound-rtp") {
      lost += s.packetsLost || 0;
      received += s.packetsReceived || 0;
      bytes += s.bytesReceived || 0;
    }
  });
  const now = performance.now();
  const current = { at: now, lost, received, bytes };
  if (!previous) return { current, sample: null };
  const seconds = (now - previous.at) / 1000;
  const dLost = Math.max(0, lost - previous.lost);
  const dReceived = Math.max(0, received - previous.received);
  const total = dLost + dReceived;
  return {
    current,
    sample: {
      rtt_ms: rtt === null ? null : Math.round(rtt),
      loss_percent: total ? Math.round((1000 * dLost) / total) / 10 : null,
      bitrate_kbps: seconds > 0 ? Math.round(((bytes - previous.bytes) * 8) / 1000 / seconds) : null,
    },
  };
}

export class QualityMonitor extends EventTarget {
  constructor(call) {
    super();
    this.call = call;
    this.pc = null;
    this.previous = null;
    this.poor = false;
    this.streak = 0;
    this.lastReport = 0;
    this.timer = setInterval(() => this.sample().catch(() => {}), SAMPLE_MS);
  }

  stop() {
    clearInterval(this.timer);
  }

  async sample() {
    const pc = this.call.pc;
    if (!pc || pc.connectionState !== "connected") return;
    if (pc !== this.pc) {
      this.pc = pc;
      this.previous = null;
    }
    const { current, sample } = measure(await pc.getStats(), this.previous);
    this.previous = current;
    if (!sample) return;
    const bad = (sample.rtt_ms !== null && sample.rtt_ms > POOR_RTT_MS) ||
      (sample.loss_percent !== null && sample.loss_percent > POOR_LOSS_PERCENT);
    this.streak = bad === this.poor ? 0 : this.streak + 1;
    const changed = this.streak >= (this.poor ? GOOD_AFTER : POOR_AFTER);
    if (changed) {
      this.poor = !this.poor;
      this.streak = 0;
    }
    const full = { ...sample, poor: this.poor };
    const now = performance.now();
    if (now - this.lastReport >= REPORT_MS || (changed && this.poor)) {
      this.lastReport = now;
      this.call.reportQuality(full);
    }
    this.dispatchEvent(new CustomEvent("quality", { detail: { ...full, changed } }));
  }
}

// The page's part: plain words when the connection is poor, and an audio-only switch.
export function wireQuality(call, note, button) {
  const monitor = new QualityMonitor(call);
  monitor.addEventListener("quality", ({ detail }) => {
    if (!detail.changed) return;
    if (detail.poor) {
      note.textContent = "Your connection is weak right now: the picture may freeze and " +
        "voices may break up. Switching to audio only usually helps.";
      note.hidden = false;
      button.hidden = false;
    } else {
      note.textContent = "Your connection is better again.";
      if (!call.audioOnly) button.hidden = true;
    }
  });
  button.addEventListener("click", async () => {
    const on = !call.audioOnly;
    await call.setAudioOnly(on);
    button.textContent = on ? "Turn video back on" : "Switch to audio only";
    button.classList.toggle("is-off", on);
    if (on) note.textContent = "Audio only: your camera is not sent, which saves your connection.";
  });
  call.addEventListener("ended", () => monitor.stop());
  return monitor;
}
