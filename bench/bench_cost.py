"""Cost per brief: prompt and completion tokens, and the static (cacheable) share of the prompt.

With a real endpoint configured (OPENAI_API_KEY / OPENAI_BASE_URL), the figures are the
provider's own usage counts. Without one, tokens are estimated from characters (Latin ≈ 4
characters per token, Arabic ≈ 2.5), and the output says "est.".
Run:  .venv/bin/python bench/bench_cost.py [--real]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys

from common import ARTICLE, TESTDATA

from bot.engine import prompts
from bot.engine.article import fit, from_text
from bot.engine.brief import BriefEngine, user_message
from bot.engine.candidates import Candidates
from bot.engine.grounding import Grounds
from bot.engine.llm import LLMClient
from bot.engine.normalize import Matcher
from bot.ops.config import Settings
from bot.reading.extract import decode, extract_html
from tests.conftest import example_brief

_ARABIC = re.compile(r"[\u0600-\u06FF]")


def estimate(text: str) -> int:
    arabic = len(_ARABIC.findall(text))
    return round(arabic / 2.5 + (len(text) - arabic) / 4)


def articles() -> list[tuple[str, str]]:
    out = [("example (ar)", ARTICLE)]
    for page in sorted((TESTDATA / "html").glob("*.html")):
        try:
            out.append((page.name[:24], extract_html(decode(page.read_bytes())).text))
        except Exception:
            continue
    return out


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--real", action="store_true", help="call the configured endpoint for real usage counts")
    args = p.parse_args()
    settings = Settings()
    system = prompts.system_prompt()
    completion_est = estimate(json.dumps(example_brief(), ensure_ascii=False))
    engine = BriefEngine(settings, LLMClient(settings)) if args.real else None
    print(f"# command: {sys.executable} {' '.join(sys.argv)}")
    print(f"# prompt version {prompts.version()}; system prompt {len(system)} chars, est. {estimate(system)} tokens")
    print(f"{'article':<26}{'chars':>7}{'prompt':>9}{'completion':>11}{'static share':>14}")
    for name, text in articles():
        article = from_text(text, name)
        if engine is not None:
            env = await engine.run(article)
            u = env.provenance.usage
            static = estimate(system) / max(u.prompt_tokens, 1)
            print(f"{name:<26}{len(text):>7}{u.prompt_tokens:>9}{u.completion_tokens:>11}{static:>13.0%}")
        else:
            sent, truncated = fit(article.text, settings.article_max_chars)
            # the candidates the engine sends with the article (bot/engine/candidates.py)
            offered = Candidates.find(Grounds(Matcher(article.text)))
            prompt = estimate(system) + estimate(user_message(article, sent, truncated, offered))
            share = estimate(system) / prompt
            print(f"{name:<26}{len(text):>7}{'~' + str(prompt):>9}{'~' + str(completion_est):>11}{share:>13.0%}")
    if engine is not None:
        await engine.llm.close()


if __name__ == "__main__":
    asyncio.run(main())
