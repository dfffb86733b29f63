@_exported import Raft
