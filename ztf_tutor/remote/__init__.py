"""Full checkpoints on the learner's GPU machine over ssh.

This package has two halves. `jobrunner` runs ON the remote machine and imports only the
standard library and the child-side modules (child, checking, verdict), because the remote has
nothing but Python and torch. The other modules run locally: `config` (the `[remotes.NAME]`
tables), `ssh` (the system OpenSSH client), `sync` (rsync or a tar stream) and `job` (start,
follow, attach and cancel a job). Keep this file free of imports so the remote side stays small.
"""
