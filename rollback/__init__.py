"""Deploy, rollback and the release log through the Pulumi Automation API.

``stack`` is the one adapter over ``pulumi.automation`` (behind the ``port.StackPort`` protocol);
``releases`` derives the release log from update history (pure); ``checks`` decides the target and
runs the safety checks (pure); ``aws`` holds the boto3 calls; ``verify`` checks what ECS runs;
``audit`` writes the DynamoDB trail; ``commands`` orchestrates; ``cli`` parses arguments.
"""
