// What the Node and Bun ZooKeeper smoke loads: the public ./zk module and the Node socket adapter
// from examples/zk_node_socket.ts (Node has no built-in adapter; Bun's is found by detection).
export * from "../../../src/zk/mod.ts";
export { nodeConnect } from "../../../examples/zk_node_socket.ts";
