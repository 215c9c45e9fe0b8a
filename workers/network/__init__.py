"""The host network agent: converge a HostSpec (desired.py) into kernel state.

Entry points: `agent.NetworkAgent.converge`, `loop.AgentLoop` for the run
loop, `from_state.spec_from_host_state` for the projection's host view and
`probe.probe` to decide whether real networking is possible here.
"""
