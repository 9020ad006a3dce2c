"""The words of the scripted responder: each persona's voice, topic advice, canned documents.

Kept apart from the logic in ``responders.py`` so the texts can be read and edited as
texts. Voices differ on purpose: the nutritionist is precise and food-first, the fitness
coach short and energetic, the wellness specialist gentle and reflective, and the general
wellness guide balanced and practical.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Voice:
    title: str
    greeting: str
    goal_greeting: str
    goal_intro: str
    goal_tie_in: str
    long_opening: str
    openers: tuple[str, ...]
    closers: tuple[str, ...]
    lens: dict[str, str] = field(default_factory=dict)


TOPIC_KEYWORDS: dict[str, tuple[str, ...]] = {
    "breakfast": ("breakfast", "morning meal", "oatmeal", "cereal", "brunch"),
    "nutrition": (
        "eat",
        "food",
        "meal",
        "diet",
        "protein",
        "snack",
        "lunch",
        "dinner",
        "calorie",
        "sugar",
        "vegetable",
        "carb",
        "recipe",
        "nutrition",
    ),
    "sleep": ("sleep", "insomnia", "tired", "bedtime", "nap", "rest", "wake", "fatigue"),
    "stress": (
        "stress",
        "anxious",
        "anxiety",
        "overwhelm",
        "worried",
        "burnout",
        "calm",
        "pressure",
        "mood",
    ),
    "workout": (
        "workout",
        "exercise",
        "gym",
        "run",
        "strength",
        "cardio",
        "training",
        "lift",
        "squat",
        "steps",
        "walk",
        "yoga",
        "stretch",
    ),
    "weight": ("weight", "lose", "lbs", "pounds", "kg", "fat", "slim", "bmi"),
    "hydration": ("water", "hydrat", "drink", "thirst", "caffeine", "coffee"),
    "motivation": (
        "motivat",
        "habit",
        "consisten",
        "lazy",
        "give up",
        "stuck",
        "goal",
        "progress",
        "discipline",
    ),
}

# Per topic: groups of interchangeable steps; a reply takes one step from each group.
TOPIC_ADVICE: dict[str, tuple[tuple[str, ...], ...]] = {
    "breakfast": (
        (
            "Build the plate around protein: two eggs, Greek yogurt or cottage cheese gives you 20-30 g to start the day.",
            "Aim for roughly 25 g of protein at breakfast; it keeps you full until lunch far better than toast alone.",
        ),
        (
            "Add fibre from oats, berries or whole-grain bread so the energy lasts instead of spiking.",
            "Pair a slow carbohydrate such as oats or rye bread with fruit for steady energy through the morning.",
        ),
        (
            "Prepare two or three options the evening before, so a rushed morning still has a good default.",
            "Overnight oats or a boiled-egg batch on Sunday removes the morning decision entirely.",
        ),
    ),
    "nutrition": (
        (
            "Fill half the plate with vegetables, a quarter with protein and a quarter with whole grains.",
            "Anchor every meal with a palm-sized portion of protein and at least one vegetable.",
        ),
        (
            "Keep a simple food log for three days; patterns show up faster than you would expect.",
            "Notice when you snack: hunger, boredom and habit call for different fixes.",
        ),
        (
            "Plan two easy go-to dinners you can cook in fifteen minutes on tired evenings.",
            "Shop with a short list built from the meals you actually plan to cook this week.",
        ),
    ),
    "sleep": (
        (
            "Keep the same wake-up time every day, weekends included; it anchors your body clock.",
            "Pick a fixed wake time first; a consistent bedtime tends to follow within a week or two.",
        ),
        (
            "Dim screens and lights for the last 45 minutes before bed and keep the bedroom cool and dark.",
            "Give yourself a short wind-down routine: a warm shower, a few pages of a book, lights low.",
        ),
        (
            "Move caffeine before noon and keep the last heavy meal two to three hours before bed.",
            "If you cannot sleep after twenty minutes, get up, do something quiet, and return when drowsy.",
        ),
    ),
    "stress": (
        (
            "Try box breathing: in for four, hold for four, out for four, hold for four, five rounds.",
            "Lengthen the exhale: breathe in for four counts and out for six, for two minutes.",
        ),
        (
            "Write down what is on your mind and circle the one thing you can act on today.",
            "Split the week's worries into what you control, what you influence and what you let go.",
        ),
        (
            "Protect one ten-minute pause a day with no phone, ideally outside.",
            "A short walk after lunch lowers tension more reliably than another cup of coffee.",
        ),
    ),
    "workout": (
        (
            "Start with three full-body sessions a week: squat, push, pull, hinge and a carry.",
            "Two strength sessions plus one easy cardio day is a solid, sustainable base.",
        ),
        (
            "Progress slowly: add one repetition or a little weight each week, never both at once.",
            "Track your sets in a notebook so each session has a small, visible target to beat.",
        ),
        (
            "Warm up for five minutes and keep one or two repetitions in reserve on every set.",
            "Schedule rest days on purpose; muscles adapt between sessions, not during them.",
        ),
    ),
    "weight": (
        (
            "Aim for a gentle deficit of about 300-500 kcal a day; it is slower, and far easier to keep.",
            "Expect about 0.5-1 lb a week; faster loss usually comes back just as fast.",
        ),
        (
            "Weigh yourself at the same time a few mornings a week and watch the weekly average, not the day.",
            "Track one more thing than weight: waist measurement, energy, or how clothes fit.",
        ),
        (
            "Keep protein high and strength training in the week so the loss comes from fat, not muscle.",
            "Make the easy choice the default: fruit on the counter, water bottle on the desk.",
        ),
    ),
    "hydration": (
        (
            "A useful target is about 30-35 ml of water per kilogram of body weight each day.",
            "Start the day with a full glass of water before coffee.",
        ),
        (
            "Keep a bottle in sight; people drink noticeably more when water is within reach.",
            "Tie drinking to routines you already have: each meal, each meeting, each break.",
        ),
        (
            "Pale yellow urine is a simple, reliable sign that you are drinking enough.",
            "Add fruit or herbs to water if plain water is the obstacle.",
        ),
    ),
    "motivation": (
        (
            "Make the first step so small it feels almost silly: two minutes, one set, one glass.",
            "Shrink the habit until you cannot say no to it, then grow it once it sticks.",
        ),
        (
            "Attach the new habit to an existing one: after I pour my coffee, I stretch for two minutes.",
            "Decide in advance when and where you will do it; plans beat willpower.",
        ),
        (
            "Track a streak on paper; missing once is fine, missing twice is the start of a new habit.",
            "Review the week every Sunday: what worked, what did not, one thing to adjust.",
        ),
    ),
    "general": (
        (
            "Pick one area to improve this month: sleep, movement, food or stress, not all four.",
            "Start with the basics that help everything else: sleep, water, a daily walk.",
        ),
        (
            "Make the change small enough to do on your worst day.",
            "Write down one concrete action for tomorrow and when you will do it.",
        ),
        (
            "Check in with yourself at the end of each week and adjust, rather than starting over.",
            "Notice what already works for you and do a bit more of it.",
        ),
    ),
}

_LENS_COMMON = {
    "general": "Here is a simple way to start, step by step:",
}

VOICES: dict[str, Voice] = {
    "nutritionist": Voice(
        title="Nutritionist",
        greeting=(
            "Hello, I'm your nutritionist. I look at what you eat, when you eat it and how it "
            "fits your day, and we build small, realistic changes from there. What would you "
            "like to work on: meals, snacks, energy, or a specific goal?"
        ),
        goal_greeting=(
            "Hello, I'm your nutritionist. I can see you are working on {goal}. Food is one "
            "of the strongest levers for that, so let's look at your meals together. What "
            "does a typical day of eating look like for you right now?"
        ),
        goal_intro=(
            "Let's connect this to your goal {goal}. From a nutrition point of view, the "
            "most reliable progress comes from consistent meals rather than strict rules."
        ),
        goal_tie_in='Each of these steps moves you closer to "{title}" without a strict diet.',
        long_opening="Here is a detailed nutrition plan, one item at a time:",
        openers=(
            "Good question. Let's look at it from the plate first, because small food changes add up quickly.",
            "From a nutrition perspective, the details matter here, so let me be specific.",
            "Let's make this practical and measurable, meal by meal.",
        ),
        closers=(
            "Would you like me to turn this into a simple three-day meal plan?",
            "Tell me what you usually eat on a weekday and I will suggest one precise swap.",
            "Which of these feels easiest to try tomorrow?",
        ),
        lens={
            **_LENS_COMMON,
            "breakfast": "Breakfast sets your blood sugar and appetite for the whole morning, so its composition matters more than its size.",
            "nutrition": "Nutrition works best as a pattern, not a set of forbidden foods. Here is the pattern I recommend:",
            "sleep": "What and when you eat affects sleep more than most people think, especially caffeine, alcohol and late heavy meals.",
            "stress": "Stress changes appetite and cravings, so we can use regular meals to keep your energy steady:",
            "workout": "Training needs fuel: protein for repair and carbohydrates around sessions for energy.",
            "weight": "For weight, the numbers matter, but the habits behind them matter more. Precisely:",
            "hydration": "Hydration is the cheapest nutrition upgrade there is. The essentials:",
            "motivation": "Consistency with food comes from making good choices the easy ones:",
        },
    ),
    "fitness_coach": Voice(
        title="Fitness coach",
        greeting=(
            "Hey! I'm your fitness coach. Let's get you moving, getting stronger and feeling "
            "great. Tell me where you're starting from and what you want to be able to do, "
            "and we'll build a plan that fits your week."
        ),
        goal_greeting=(
            "Hey! I'm your fitness coach, and I see you're going after {goal}. Love it. "
            "Let's build the training that gets you there. How many days a week can you train?"
        ),
        goal_intro=(
            "Let's go! You're working on {goal}, so every session we plan should push toward it."
        ),
        goal_tie_in='Stack these up week after week and "{title}" stops being a wish and becomes a plan.',
        long_opening="Alright, here's the full session breakdown, rep by rep:",
        openers=(
            "Let's do this! Here's how I'd attack it.",
            "Great question, and the answer is simpler than you think. Short version: move, recover, repeat.",
            "Okay, coach mode on. Here's the plan.",
        ),
        closers=(
            "Which day this week are you starting? Tell me and I'll hold you to it!",
            "Try it for one week and report back. You've got this!",
            "Want me to write out your first session set by set?",
        ),
        lens={
            **_LENS_COMMON,
            "breakfast": "Fuel first! What you eat in the morning decides how you train later:",
            "nutrition": "You can't out-train your kitchen, so let's get the fuel right:",
            "sleep": "Recovery is training too. Sleep is when you actually get stronger:",
            "stress": "Movement is one of the best stress-busters there is. Here's how to use it:",
            "workout": "Training time! Keep it simple and progressive:",
            "weight": "For weight, strength training plus daily movement beats endless cardio:",
            "hydration": "Hydrate like an athlete; even mild dehydration drops performance:",
            "motivation": "Motivation follows action, not the other way round. So:",
        },
    ),
    "wellness_specialist": Voice(
        title="Wellness specialist",
        greeting=(
            "Hi, I'm your wellness companion. This is a calm space to talk about how you're "
            "feeling, your energy, your sleep and your stress. There's no rush. What's been "
            "on your mind lately?"
        ),
        goal_greeting=(
            "Hi, I'm your wellness companion. I see you've set yourself the goal {goal}. "
            "That's a meaningful step. How are you feeling about it so far, and what has "
            "been the hardest part?"
        ),
        goal_intro=(
            "Thank you for sharing that. Keeping your goal {goal} in mind, let's find an "
            "approach that feels kind and sustainable for you."
        ),
        goal_tie_in='Go gently: each small step here is progress toward "{title}", even on the harder days.',
        long_opening="Let's take this slowly, one gentle step at a time:",
        openers=(
            "Thank you for sharing that with me. It makes sense that this is on your mind.",
            "I hear you. Let's slow down and look at this together, without judgement.",
            "That's a really thoughtful question, and it's worth giving it some space.",
        ),
        closers=(
            "How does that feel to you? We can adjust anything that doesn't fit.",
            "Be kind to yourself this week. Would you like to check in again in a few days?",
            "What feels like the gentlest first step for you?",
        ),
        lens={
            **_LENS_COMMON,
            "breakfast": "A calm, unhurried breakfast can set the tone for the whole day. Some gentle ideas:",
            "nutrition": "Eating well is also about how you feel while eating, not only what is on the plate:",
            "sleep": "Rest is where so much of our wellbeing begins. A few gentle practices that help:",
            "stress": "Stress is a signal, not a failing. Here are some ways to meet it with care:",
            "workout": "Movement can be a form of self-care rather than a chore. You might try:",
            "weight": "Change that lasts usually comes from caring for yourself, not from being hard on yourself:",
            "hydration": "Small rituals of care, like drinking water mindfully, add up:",
            "motivation": "It's completely normal for motivation to come and go. What helps is structure and kindness:",
        },
    ),
    "general_wellness": Voice(
        title="Wellness guide",
        greeting=(
            "Hi, I'm your wellness guide. I can help with nutrition, movement, sleep, stress "
            "and building habits that stick. What would you like to focus on today?"
        ),
        goal_greeting=(
            "Hi, I'm your wellness guide. You're working on {goal}, and I'm here to help you "
            "get there. Where would you like to start: habits, food, movement or rest?"
        ),
        goal_intro=("Keeping your goal {goal} in view, here is a balanced plan."),
        goal_tie_in='Together these keep "{title}" moving forward without overhauling your whole life.',
        long_opening="Here is a thorough overview, point by point:",
        openers=(
            "Happy to help with that. Here's a balanced way to approach it.",
            "Good question. The short answer: small, steady changes work best.",
            "Let's keep this practical. Here's what tends to work for most people.",
        ),
        closers=(
            "Would you like to go deeper on any of these?",
            "Pick one to try this week and let me know how it goes.",
            "Is there anything in your routine that makes one of these hard?",
        ),
        lens={
            **_LENS_COMMON,
            "breakfast": "A good breakfast mixes protein, fibre and something you enjoy:",
            "nutrition": "Balanced eating is mostly about regular, simple meals:",
            "sleep": "Sleep affects energy, mood and appetite, so it's a great place to start:",
            "stress": "Managing stress is a skill you can practise. A few reliable tools:",
            "workout": "For exercise, consistency beats intensity. A simple structure:",
            "weight": "Sustainable weight change comes from habits you can keep:",
            "hydration": "Staying hydrated is an easy win:",
            "motivation": "Habits beat motivation in the long run. Try this:",
        },
    ),
}

LONG_WORDS: tuple[str, ...] = tuple(
    [
        "steady",
        "progress",
        "comes",
        "from",
        "small",
        "daily",
        "habits",
        "such",
        "as",
        "regular",
        "meals",
        "enough",
        "water",
        "a",
        "short",
        "walk",
        "after",
        "lunch",
        "consistent",
        "sleep",
        "and",
        "a",
        "moment",
        "to",
        "breathe",
        "when",
        "the",
        "day",
        "gets",
        "busy",
        "so",
        "keep",
        "going",
        "one",
        "step",
        "at",
        "a",
        "time",
        "and",
        "notice",
        "how",
        "your",
        "energy",
        "improves",
    ]
)


def markdown_reply(persona: str) -> str:
    """A reply that exercises a markdown renderer: headings, a list, a table, code blocks."""
    voice = VOICES.get(persona, VOICES["general_wellness"])
    return f"""## {voice.title}: a weekly plan

Here is a plan in **markdown**, with *emphasis*, `inline code` and a [link](https://example.org).

### Daily checklist

1. Drink a glass of water on waking
2. Walk for **20 minutes**
3. Eat protein at every meal
   - eggs or yogurt at breakfast
   - beans, fish or chicken later

### Week at a glance

| Day | Focus | Minutes |
|-----|-------|--------:|
| Mon | Strength | 30 |
| Wed | Walk | 40 |
| Fri | Mobility | 20 |

### Tracking it

```python
week = {{"water_glasses": 8, "walk_min": 20}}
print(sum(week.values()))
```

```json
{{"persona": "{persona}", "plan": "weekly"}}
```

> Small steps, every day.
"""
