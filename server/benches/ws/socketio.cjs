// The Socket.IO 4.8 server the /ws benchmark measures Lifeline against: WebSocket transport
// only, one event broadcast to every client for each POST /trigger (its body is the frame's
// JSON object). Started by the benchmark with NODE_PATH pointing at end2end/node_modules.
"use strict";
const http = require("node:http");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/livez") {
    res.end("ok");
    return;
  }
  if (req.method === "POST" && req.url === "/trigger") {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      io.emit("event", JSON.parse(Buffer.concat(chunks).toString("utf8")));
      res.end("sent");
    });
    return;
  }
  res.statusCode = 404;
  res.end();
});
const io = new Server(server, { transports: ["websocket"], serveClient: false });
server.listen(port, "127.0.0.1", () => console.log("listening"));
