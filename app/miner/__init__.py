"""What only a mining machine runs: the round loop and its resume state, devices, the policy, the worker and
the controller. The protocol's rules it follows are `app.pot`'s, shared with the node."""
