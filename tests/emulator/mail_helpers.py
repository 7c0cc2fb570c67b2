"""Old name of mail_support, kept until the tests other branches add still importing it
(test_graph_folder_move) are updated."""

from mail_support import ALICE, BOB, err, http_client, mail, unique

__all__ = ["ALICE", "BOB", "err", "http_client", "mail", "unique"]
