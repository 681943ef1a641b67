// Live dashboard: one websocket, reconnecting with backoff; every event becomes a table row.
(function () {
  "use strict";
  const status = document.getElementById("live-status");
  const rows = document.querySelector("#events tbody");
  const empty = document.getElementById("no-events");
  const MAX_ROWS = 200;
  let delay = 500;

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function summarize(data) {
    return Object.entries(data)
      .filter(([, value]) => value !== null && typeof value !== "object")
      .map(([key, value]) => key + "=" + value)
      .join(" ");
  }

  function addRow(message) {
    const row = document.createElement("tr");
    row.className = "event";
    row.dataset.type = message.type;
    for (const text of [new Date().toLocaleTimeString(), message.type, summarize(message.data || {})]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    rows.prepend(row);
    empty.hidden = true;
    while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/ws/dashboard/");
    socket.onopen = () => { delay = 500; };
    socket.onmessage = (frame) => {
      const message = JSON.parse(frame.data);
      if (message.type === "welcome") setStatus("live", "live");
      else if (message.type !== "pong") addRow(message);
    };
    socket.onclose = () => {
      setStatus("offline", "reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }

  connect();
})();
