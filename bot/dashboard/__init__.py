"""The moderators' web dashboard: suggestions, seekers, approvals and forecast quality per
subreddit, behind Reddit login (``prosocial dashboard``)."""

from bot.dashboard.app import ApprovalDesk, create_app
from bot.dashboard.errors import DashboardConfigError, DashboardError, LoginError
from bot.dashboard.oauth import OAuthClient, RedditOAuth
from bot.dashboard.settings import DashboardSettings, load_dashboard_settings

__all__ = [
    "ApprovalDesk",
    "DashboardConfigError",
    "DashboardError",
    "DashboardSettings",
    "LoginError",
    "OAuthClient",
    "RedditOAuth",
    "create_app",
    "load_dashboard_settings",
]
