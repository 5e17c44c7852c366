"""Hugging Face model cards for compressed builds, and their publishing.

`sources` reads what a card draws on; `sections` turns it into the card's sections; `context` gathers them
into a `CardContext`; `build` renders the card from `templates/modelcard.md`; `hub_rules` checks its metadata
against what the Hub accepts; `layout` says where each file goes in a published repository and writes the
configs the standard loaders (Optimum's) read beside them; `hub` stages and pushes a build with its card.
Commands: `python -m vitspace.card` (print or write a card) and `python -m vitspace.card.publish`.
"""
