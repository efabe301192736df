// Captures the microphone in 20 ms chunks of 16-bit PCM (the AudioContext runs at 16 kHz) and
// hands them to the page, which sends them to the server.
class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.chunk = new Int16Array(320);
    this.filled = 0;
  }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      for (let i = 0; i < channel.length; i++) {
        const v = Math.max(-1, Math.min(1, channel[i]));
        this.chunk[this.filled++] = v < 0 ? v * 32768 : v * 32767;
        if (this.filled === this.chunk.length) {
          this.port.postMessage(this.chunk.buffer.slice(0));
          this.filled = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor('pcm-capture', PcmCapture);
