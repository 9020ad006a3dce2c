"""The quick actions the server offers (PROTOCOL B2.1) and how they are filtered.

A quick action is a ready-made prompt. ``GET /api/v1/consultations/quick-actions`` lists
them, and ``POST /api/v1/consultations`` with ``quick_action`` set to a known id starts the
consultation from that prompt. Unknown ids (the app sends ``goal_support`` and friends) are
recorded on the consultation and otherwise ignored.
"""

from __future__ import annotations

from typing import Any

CONTEXT_TYPES: tuple[str, ...] = ("general", "goal", "insight", "mood", "journal")

QUICK_ACTIONS: tuple[dict[str, Any], ...] = (
    {
        "id": "suggest-goal",
        "title": "Suggest a goal",
        "prompt": "Can you suggest a realistic wellness goal for me based on what matters most right now?",
        "icon": "target",
        "context_type": "general",
        "persona": None,
    },
    {
        "id": "check-progress",
        "title": "Check my progress",
        "prompt": "Can you help me check my progress and tell me what to focus on next?",
        "icon": "chart-line",
        "context_type": "general",
        "persona": None,
    },
    {
        "id": "boost-motivation",
        "title": "Boost my motivation",
        "prompt": "I'm struggling with motivation this week. How can I get back on track?",
        "icon": "heart",
        "context_type": "general",
        "persona": None,
    },
    {
        "id": "analyze-patterns",
        "title": "Analyze my patterns",
        "prompt": "Can you help me spot patterns in my habits, energy and mood?",
        "icon": "search",
        "context_type": "insight",
        "persona": "general_wellness",
    },
    {
        "id": "plan-nutrition",
        "title": "Plan nutrition",
        "prompt": "Can you help me plan balanced meals for this week, starting with breakfast?",
        "icon": "utensils",
        "context_type": "general",
        "persona": "nutritionist",
    },
    {
        "id": "design-workout",
        "title": "Design workout",
        "prompt": "Can you design a simple strength workout plan I can do three times a week?",
        "icon": "dumbbell",
        "context_type": "general",
        "persona": "fitness_coach",
    },
    {
        "id": "improve-sleep",
        "title": "Improve sleep",
        "prompt": "I keep waking up tired. How can I improve my sleep?",
        "icon": "moon",
        "context_type": "general",
        "persona": "wellness_specialist",
    },
    {
        "id": "manage-stress",
        "title": "Manage stress",
        "prompt": "I feel stressed and overwhelmed lately. What can I do to calm down?",
        "icon": "leaf",
        "context_type": "mood",
        "persona": "wellness_specialist",
    },
    {
        "id": "review-goal-progress",
        "title": "Review goal progress",
        "prompt": "Can you review my progress on this goal and suggest my next step?",
        "icon": "flag",
        "context_type": "goal",
        "persona": None,
    },
    {
        "id": "troubleshoot-goal",
        "title": "Goal struggling",
        "prompt": "I'm struggling with this goal. Can you help me troubleshoot what's getting in the way?",
        "icon": "help-circle",
        "context_type": "goal",
        "persona": None,
    },
)


def quick_actions(
    persona: str | None = None, context_type: str | None = None
) -> list[dict[str, Any]]:
    """Actions matching the filters; a context filter also keeps the ``general`` actions."""
    result = []
    for action in QUICK_ACTIONS:
        if persona is not None and action["persona"] not in (None, persona):
            continue
        if context_type is not None and action["context_type"] not in (context_type, "general"):
            continue
        result.append({k: v for k, v in action.items() if v is not None})
    return result


def find_quick_action(action_id: str) -> dict[str, Any] | None:
    for action in QUICK_ACTIONS:
        if action["id"] == action_id:
            return action
    return None
