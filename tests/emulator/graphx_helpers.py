"""Old name of graphx_support, kept until the tests other branches add still importing it
(test_graph_folder_move, test_graph_contract_send) are updated."""

from graphx_support import ALICE, BOB, GRAPH, GX, calendars_restored, draft, error_code, gx

__all__ = ["ALICE", "BOB", "GRAPH", "GX", "calendars_restored", "draft", "error_code", "gx"]
