// A ZooKeeper socket adapter for Node 20+ (and anything with node:net), passed as the `connect`
// option: `ZkClient` itself uses Web streams only. Run against a local ZooKeeper:
//   node --import tsx examples/zk_node_socket.ts        (or: deno run --allow-net=127.0.0.1 ...)
import { connect as netConnect } from "node:net";
import { Duplex } from "node:stream";
import { ZkClient, type ZkConnect, ZkInstancer, ZkRegistrar } from "../src/zk/mod.ts";

/** Opens a TCP connection with node:net and exposes it as Web streams. */
export const nodeConnect: ZkConnect = (host, port, { signal }) =>
  new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const socket = netConnect({ host, port, noDelay: true });
    const onAbort = () => {
      socket.destroy();
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("error", (error) => {
      signal?.removeEventListener("abort", onAbort);
      reject(error);
    });
    socket.once("connect", () => {
      signal?.removeEventListener("abort", onAbort);
      const { readable, writable } = Duplex.toWeb(socket);
      resolve({
        readable: readable as ReadableStream<Uint8Array>,
        writable: writable as WritableStream<Uint8Array>,
        close: () => {
          socket.destroy();
          return Promise.resolve();
        },
      });
    });
  });

if (import.meta.main) {
  const client = new ZkClient("127.0.0.1:2181", { connect: nodeConnect });
  const registrar = new ZkRegistrar(client, { path: "/services/example", instance: "127.0.0.1:8080" });
  await registrar.register();
  const instancer = new ZkInstancer(client, "/services/example");
  for await (const event of instancer) {
    console.log(event.instances ?? event.error);
    break;
  }
  instancer.stop();
  await registrar.deregister();
  await client.close();
}
