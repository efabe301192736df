// The Talk page: microphone → server as 16 kHz PCM; agent audio (8 kHz PCM) played in order;
// marks echoed once the audio before them has been heard; `clear` stops playback at once
// (barge-in). Counters on <body> (data-agent-audio-ms, data-clears) let tests see what played.
(() => {
  const button = document.getElementById('talk');
  const statusEl = document.getElementById('status');
  const transcript = document.getElementById('transcript');
  let ws = null, ctx = null, mic = null, node = null;
  let nextTime = 0, sources = [], marks = [], agentMs = 0, clears = 0;

  const setStatus = (text) => { statusEl.textContent = text; };

  function addLine(speaker, text, interrupted) {
    if (!text) return;
    const line = document.createElement('div');
    line.className = `line ${speaker}` + (interrupted ? ' interrupted' : '');
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = speaker === 'agent' ? 'Agent' : 'You';
    line.appendChild(who);
    line.appendChild(document.createTextNode(text));
    transcript.appendChild(line);
    transcript.scrollTop = transcript.scrollHeight;
  }

  function sendMark(name) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'mark', name }));
  }

  function play(buffer) {
    const pcm = new Int16Array(buffer);
    const samples = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
    const audio = ctx.createBuffer(1, samples.length, 8000);
    audio.copyToChannel(samples, 0);
    const source = ctx.createBufferSource();
    source.buffer = audio;
    source.connect(ctx.destination);
    const at = Math.max(ctx.currentTime + 0.02, nextTime);
    source.start(at);
    nextTime = at + audio.duration;
    sources.push(source);
    source.onended = () => { sources = sources.filter((s) => s !== source); };
    agentMs += audio.duration * 1000;
    document.body.dataset.agentAudioMs = String(Math.round(agentMs));
  }

  function control(message) {
    if (message.type === 'mark') {
      const delay = Math.max(0, (nextTime - ctx.currentTime) * 1000);
      const entry = { name: message.name };
      entry.timer = setTimeout(() => {
        marks = marks.filter((m) => m !== entry);
        sendMark(entry.name);
      }, delay);
      marks.push(entry);
    } else if (message.type === 'clear') {
      sources.forEach((s) => { try { s.stop(); } catch (_) { /* already ended */ } });
      sources = [];
      nextTime = ctx.currentTime;
      marks.forEach((m) => { clearTimeout(m.timer); sendMark(m.name); });
      marks = [];
      clears += 1;
      document.body.dataset.clears = String(clears);
    } else if (message.type === 'transcript') {
      addLine(message.speaker, message.text, message.interrupted);
    }
  }

  async function start() {
    button.disabled = true;
    setStatus('Starting the microphone…');
    try {
      ctx = new AudioContext({ sampleRate: 16000 });
      await ctx.audioWorklet.addModule('/web/talk-worklet.js');
      mic = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
      });
    } catch (e) {
      setStatus(`Microphone unavailable: ${e.message}`);
      button.disabled = false;
      return;
    }
    node = new AudioWorkletNode(ctx, 'pcm-capture');
    ctx.createMediaStreamSource(mic).connect(node);
    node.connect(ctx.destination); // keeps the worklet pulled; it outputs silence
    const agent = document.getElementById('agent').value;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    ws = new WebSocket(`${scheme}://${location.host}/web/talk/ws?agent=${encodeURIComponent(agent)}`);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      setStatus('Connected — speak any time.');
      document.body.dataset.connected = 'true';
      button.textContent = 'Hang up';
      button.classList.add('live');
      button.disabled = false;
    };
    node.port.onmessage = (e) => {
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(e.data);
    };
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') control(JSON.parse(e.data));
      else play(e.data);
    };
    ws.onclose = () => stop('Call ended.');
    ws.onerror = () => setStatus('Connection problem.');
  }

  function stop(text) {
    if (mic) mic.getTracks().forEach((t) => t.stop());
    if (node) node.disconnect();
    marks.forEach((m) => clearTimeout(m.timer));
    marks = [];
    ws = null;
    mic = null;
    node = null;
    button.textContent = 'Talk';
    button.classList.remove('live');
    button.disabled = false;
    document.body.dataset.connected = 'false';
    setStatus(text);
  }

  button.addEventListener('click', () => {
    if (ws) {
      ws.send(JSON.stringify({ type: 'hangup' }));
      ws.close();
      stop('You hung up.');
    } else {
      start();
    }
  });
})();
