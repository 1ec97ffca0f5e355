"""Bug trackers an incident can open an issue in: GitHub, GitLab, Jira and a webhook.

Importing the package registers the built-ins in ``interface.registry`` under their plan
``type:`` names.
"""

from __future__ import annotations

from watchkeeper.incidents.trackers.github import GitHubTracker
from watchkeeper.incidents.trackers.gitlab import GitLabTracker
from watchkeeper.incidents.trackers.interface import register, registry
from watchkeeper.incidents.trackers.jira import JiraTracker
from watchkeeper.incidents.trackers.webhook import WebhookTracker

for _plugin in (GitHubTracker(), GitLabTracker(), JiraTracker(), WebhookTracker()):
    register(_plugin)

__all__ = ["registry"]
