"""A small distillation job end to end: prompts -> teacher (a batch run) -> training file.

python examples/distill.py [WORK_DIR]

Writes prompts.jsonl into WORK_DIR (default: a new temporary directory), runs them through
the teacher (LLAMA_MODEL, else the first model the server at LLAMA_BASE_URL serves) as a
resumable batch job in WORK_DIR/run, then exports the answers that finished normally as
WORK_DIR/train.jsonl in the chat "messages" format (TRL, torchtune, axolotl). Run it again
with the same WORK_DIR and it resumes: answered prompts are not paid for twice.

If you distribute a model trained on Llama 3.1 outputs, the Llama 3.1 licence asks that its
name begin with "Llama".
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from llama_client import APIConnectionError, APIStatusError, AsyncLlamaClient
from llama_client.batch import BatchJob, BatchSettings, BatchStats, export_run

TOPICS = ["photosynthesis", "prime numbers", "the water cycle", "binary search", "volcanoes"]
STYLES = ["in one sentence", "to a ten-year-old", "with one example"]


def write_prompts(path: Path) -> int:
    """One line per prompt, OpenAI batch format, with ids we choose."""
    with path.open("w") as f:
        for t, topic in enumerate(TOPICS):
            for s, style in enumerate(STYLES):
                body = {
                    "messages": [
                        {"role": "system", "content": "You are a patient teacher."},
                        {"role": "user", "content": f"Explain {topic} {style}."},
                    ]
                }
                line = {"custom_id": f"t{t}-s{s}", "method": "POST",
                        "url": "/v1/chat/completions", "body": body}  # fmt: skip
                f.write(json.dumps(line) + "\n")
    return len(TOPICS) * len(STYLES)


def show(stats: BatchStats) -> None:
    print(
        f"  {stats.done}/{stats.total} answered, {stats.failed} failed, {stats.in_flight} in flight"
    )


async def main(work: Path) -> int:
    prompts = work / "prompts.jsonl"
    count = write_prompts(prompts)
    async with AsyncLlamaClient(max_retries=2) as client:
        try:
            teacher = client.model or next((m.id for m in await client.models.list()), None)
        except APIConnectionError:
            print(
                f"No Llama server is answering at {client.base_url}; see README or set LLAMA_BASE_URL.",
                file=sys.stderr,
            )
            return 1
        except APIStatusError as exc:
            print(f"The request failed: {exc}", file=sys.stderr)
            return 1
        if teacher is None:
            print("The server lists no models; set LLAMA_MODEL.", file=sys.stderr)
            return 1
        settings = BatchSettings(
            model=teacher, concurrency=8, defaults={"max_tokens": 128, "temperature": 0.7}
        )
        job = BatchJob(client, prompts, work / "run", settings, on_progress=show)
        print(f"{count} prompts -> teacher {teacher}")
        stats = await job.run()
    if stats.done == 0 and stats.total == 0:
        print("  every prompt was answered by an earlier run (resumed)")
    train = work / "train.jsonl"
    report = export_run(work / "run", train, "messages")
    print(
        f"wrote {report.written} training examples to {train} "
        f"({sum(report.finish_reason.values())} cut short, {report.failed} failed, "
        f"{report.empty} without text: left out)"
    )
    if report.written == 0:
        print("(the teacher gave no usable answer)")
    else:
        first = json.loads(train.read_text().splitlines()[0])
        print("first example, answer:", first["messages"][-1]["content"][:200])
    print(
        'Licence: a model trained on Llama 3.1 outputs and distributed carries "Llama" in its name.'
    )
    return 1 if job.status == "interrupted" else 0


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="distill-"))
    target.mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(main(target)))
