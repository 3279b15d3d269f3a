// Scenario 12's app (bench/README.md): a Node http server answering every
// GET with 200 and its pid, the same file under PM2 and tend.
//
// Its socket: fd 3 when tend passes one (LISTEN_FDS, `listen` in
// init.toml), else it listens on 127.0.0.1:$PORT itself (PM2: in cluster
// mode the listen goes through the cluster primary, PM2's daemon). Once it
// listens it appends "listening PID" to $LISTEN_LOG and, under tend with
// `notify = true`, says READY=1 by running $READY_CMD (a JSON argv: Node
// cannot send to a unix datagram socket itself). On SIGINT (PM2's stop
// signal) or SIGTERM (tend's) it stops accepting and exits once the
// connections it has are answered.
'use strict';
const fs = require('fs');
const http = require('http');
const { execFile } = require('child_process');

const server = http.createServer((req, res) => {
  const body = `${process.pid}\n`;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, connection: 'close' });
  res.end(body);
});

function listening() {
  if (process.env.LISTEN_LOG) fs.appendFileSync(process.env.LISTEN_LOG, `listening ${process.pid}\n`);
  if (process.env.NOTIFY_SOCKET && process.env.READY_CMD) {
    const [cmd, ...args] = JSON.parse(process.env.READY_CMD);
    execFile(cmd, args, (err) => { if (err) console.error('ready:', err.message); });
  }
}

function stop() {
  server.close(() => process.exit(0));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

if (process.env.LISTEN_FDS) server.listen({ fd: 3 }, listening);
else server.listen(Number(process.env.PORT), '127.0.0.1', listening);
