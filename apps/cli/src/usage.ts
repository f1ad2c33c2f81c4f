export const USAGE = `kontiki: a local Kontiki Raft cluster of key-value servers, and a client for it

Usage:
  kontiki demo [--transport grpc|ws] [--storage sqlite|memory] [--data-dir DIR]
               [--writes N] [--election-timeout-ms N]
      Start 3 kv-server processes, then show an election, writes, a SIGKILL of the leader,
      the re-election, the killed node's restart and catch-up, and check every node's data.

  kontiki cluster start [--nodes 3] [--transport grpc|ws] [--storage sqlite|memory]
                        [--data-dir DIR] [--base-port N] [--election-timeout-ms N]
                        [--snapshot-interval-s N] [--snapshot-log-margin N]
      Run a local cluster in the foreground until Ctrl-C. Data and cluster.json go to
      DIR (default .kontiki-data). Ports are picked by the system, or with --base-port N
      node i serves HTTP on N+i, Raft on N+100+i and etcd's v3 API on N+200+i. With
      SQLite, DIR/nodes.json keeps the nodes (added ones too) for the next start on DIR.
  kontiki cluster add-node [--id ID] [--learner] [--data-dir DIR]
      The running cluster in DIR starts a new node with --join and its leader adds it
      (as a voter, or a learner); the node catches up first.
  kontiki cluster remove-node ID [--data-dir DIR]
      The leader removes ID from the group (a leader removing itself steps down), then
      the node stops; its data directory is renamed ID.removed-TIME.

  kontiki get KEY                          print the value (linearizable read)
  kontiki put KEY VALUE
  kontiki delete KEY
  kontiki cas KEY NEW (--expect OLD | --expect-absent)
                                           set NEW only if KEY holds OLD (or is absent)
  kontiki status                           role, term, leader and indexes of every node
  kontiki transfer-leader [PEER]           hand leadership to PEER (default: the most
                                           up-to-date follower)
  kontiki snapshot [--node ID]             every node (or ID) snapshots its state now and
                                           compacts its log
  kontiki members                          the group's voters and learners, with addresses
  kontiki members set --voters ID,... [--learners ID,...]
                      [--peers ID=HOST:PORT,...] [--peer-http ID=HOST:PORT,...]
                                           change the membership (joint consensus); new
                                           members need their Raft (and HTTP) address

Options of the client commands:
  --endpoints HOST:PORT,...   the nodes' HTTP addresses (or KONTIKI_ENDPOINTS); default:
                              the cluster.json of \`kontiki cluster start\` in --data-dir
  --data-dir DIR              where to find cluster.json and cluster.secret (default
                              .kontiki-data)
  --token-file PATH           the cluster's secret for transfer-leader, snapshot and
                              members set (or KONTIKI_TOKEN); default DIR/cluster.secret
  --json                      print the server's JSON answer
  --timeout-ms N              per request, and how long to look for a leader (default 10000)

Exit codes: 0 success; 1 failure (or key not found, compare failed); 2 usage error.`;
