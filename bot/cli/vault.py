"""`ammkeeper vault …`: the owner's commands for an executor vault.

    deploy       a new vault (its keeper, optionally its guards), from a key
    show         owner, keeper, paused, guards, allowlist with fees, balances (and their value)
    allow        allowlist pairs with their fee (the book's, a preset DEX's by its factory, or --fee-bps)
    remove       take pairs off the allowlist
    deposit      tokens and LP into the vault (the approval included), ITEM=AMOUNT or ITEM=all
    withdraw     tokens and LP out to the owner (default: everything the book names)
    set-keeper / pause / unpause / set-guards / propose-owner / accept-owner
    migrate      everything from this vault into another (pairs allowed there with the same fees)

The owner signs with a v3 keystore (`--keystore`; the password from `--password-file`, the
environment, or a prompt), or `--dev` on a local chain; or, for a multisig owner, `--calldata
FILE` writes the calls as Safe Transaction Builder JSON and sends nothing. Every call is checked
against the chain (estimated) before anything is signed: a refusal is one line, exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

from web3 import AsyncWeb3

from bot.chain import endpoints, erc20, rpc
from bot.chain.contracts import compiled
from bot.chain.vault import pair_fees
from bot.chain.views import view
from bot.cli import options
from bot.core import owner_calls, presets
from bot.core.address_book import checksum
from bot.core.book import Book
from bot.core.errors import BadInput, KeeperError
from bot.core.units import LP_DECIMALS, amount_text
from bot.keeper.planning import chain_id_of
from bot.tx.keystore import read_password
from bot.tx.owner import ApeOwner, Call, KeyOwner, Owner, SafeOwner

VERB_HELP = {
    "deploy": "a new vault from the owner's key (its keeper; --guards to set them too)",
    "show": "owner, keeper, paused, guards, allowlist with fees and balances (with --config)",
    "allow": "allowlist pairs with their fee",
    "remove": "take pairs off the allowlist",
    "deposit": "tokens and LP into the vault (the approval included): ITEM=AMOUNT or ITEM=all",
    "withdraw": "tokens and LP out to the owner (default with --config: everything the book names)",
    "set-keeper": "name another keeper (its hot key)",
    "pause": "stop the vault's execution",
    "unpause": "let the keeper execute again",
    "set-guards": "the vault's own guards: MAX_DEVIATION_BPS,WINDOW_S,COOLDOWN_S,PER_DAY",
    "propose-owner": "name the next owner (it takes over with accept-owner)",
    "accept-owner": "take over a vault proposed to this key (or Safe)",
    "migrate": "everything the book names, and the allowlist, into another vault",
}
GUARD_NAMES = ("max_deviation_bps", "window_s", "cooldown_s", "max_bundles_per_day")
VERBS = ("deploy", "show", "allow", "remove", "deposit", "withdraw", "set-keeper", "pause", "unpause",
         "set-guards", "propose-owner", "accept-owner", "migrate")  # fmt: skip


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = sub.add_parser("vault", parents=[common], help="the vault owner's commands (deploy, deposit, …)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    made = {}
    for verb in VERBS:
        p = verbs.add_parser(verb, parents=[common], help=VERB_HELP[verb])
        options.add_book(p, required=False, help="a book file: its vault, rpc, tokens, pairs and fees")
        options.add_rpc(p)
        if verb != "deploy":
            p.add_argument("--vault", help="the vault's address (default: the book's)")
        if verb != "show":
            options.add_keystore(p, dev=True)
            p.add_argument(
                "--calldata", type=Path, help="write the calls as Safe Transaction Builder JSON; send nothing"
            )
        else:
            p.add_argument("--json", action="store_true", help="one JSON object")
        made[verb] = p
    made["deploy"].add_argument("--keeper", required=True, help="the keeper's address (its hot key)")
    made["deploy"].add_argument(
        "--guards", help="MAX_DEVIATION_BPS,WINDOW_S,COOLDOWN_S,PER_DAY (e.g. 100,600,3600,6)"
    )
    for verb in ("allow", "remove"):
        made[verb].add_argument("pairs", nargs="+", help="pair names of the book, or pair addresses")
    made["allow"].add_argument(
        "--fee-bps", type=int, help="the pairs' swap fee (default: the book's, or a preset's)"
    )
    made["allow"].add_argument("--fot0", action="store_true", help="token0 takes a fee on transfer")
    made["allow"].add_argument("--fot1", action="store_true", help="token1 takes a fee on transfer")
    for verb in ("deposit", "withdraw"):
        made[verb].add_argument(
            "items", nargs="*", help="SYMBOL=AMOUNT, PAIR=AMOUNT or ADDRESS=AMOUNT (AMOUNT in units, or all)"
        )
    made["set-keeper"].add_argument("keeper", help="the new keeper's address")
    made["propose-owner"].add_argument("owner", help="the next owner (it takes over with accept-owner)")
    made["set-guards"].add_argument(
        "guards", help="MAX_DEVIATION_BPS,WINDOW_S,COOLDOWN_S,PER_DAY (0,0,0,0: off)"
    )
    made["migrate"].add_argument("--to", required=True, help="the new vault (deployed, you its owner)")
    parser.set_defaults(func=command)


# --- reading the vault ---------------------------------------------------------------------------


async def vault_view(w3: AsyncWeb3[Any], vault: str, signature: str, out: list[str]) -> tuple[Any, ...]:
    return await view(w3, vault, signature, out, what="an ammkeeper vault")


async def vault_owner(w3: AsyncWeb3[Any], vault: str) -> str:
    return checksum(str((await vault_view(w3, vault, "owner()", ["address"]))[0]))


# --- what the user names --------------------------------------------------------------------------


def parse_guards(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise BadInput(f"guards {text!r}: four whole numbers MAX_DEVIATION_BPS,WINDOW_S,COOLDOWN_S,PER_DAY")
    bps, window, cooldown, per_day = (int(p) for p in parts)
    # the vault's own checks, said before anything is signed or written for a Safe
    if bps >= 10_000:
        raise BadInput(f"guards {text!r}: max_deviation_bps must be below 10,000")
    if bps and not window:
        raise BadInput(f"guards {text!r}: a price guard needs a TWAP window (WINDOW_S > 0)")
    if max(window, cooldown, per_day) >= 2**64:
        raise BadInput(f"guards {text!r}: a number is too large")
    return bps, window, cooldown, per_day


def address_arg(text: str, what: str) -> str:
    try:
        return checksum(text)
    except BadInput:
        raise BadInput(f"{what} {text!r} is not an address") from None


def resolve_item(book: Book | None, name: str) -> tuple[str, str, bool]:
    """(address, label, is LP) of a token or pair the user names: the book's names, or an address."""
    if book is not None:
        if name in book.tokens:
            return book.tokens[name].address, name, False
        if name in book.pairs:
            return book.pairs[name], f"{name} LP", True
    if not name.startswith("0x"):
        known = "" if book is None else f" (the book's: {', '.join([*book.tokens, *book.pairs])})"
        raise BadInput(f"{name!r} is neither a token or pair of the book nor an address{known}")
    return address_arg(name, "token"), name, False


def parse_amount(text: str, item: str) -> Decimal | None:
    """None: all."""
    if text == "all":
        return None
    if not re.fullmatch(r"\d+(\.\d+)?", text):
        raise BadInput(f"{item}={text}: the amount is a plain decimal number in token units (12.5), or all")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadInput(f"{item}={text}: the amount is a number in token units, or all") from None
    if not value.is_finite() or value <= 0:
        raise BadInput(f"{item}={text}: the amount must be positive")
    return value


def items(book: Book | None, raw: list[str]) -> list[tuple[str, str, bool, Decimal | None]]:
    out = []
    for text in raw:
        name, sep, amount = text.partition("=")
        if not sep or not name or not amount:
            raise BadInput(f"{text!r}: give ITEM=AMOUNT (AMOUNT in token units, or all)")
        address, label, lp = resolve_item(book, name)
        out.append((address, label, lp, parse_amount(amount, name)))
    return out


async def base_units(w3: AsyncWeb3[Any], token: str, lp: bool, amount: Decimal, label: str) -> int:
    places = LP_DECIMALS if lp else await erc20.decimals(w3, token)
    units = Fraction(amount) * 10**places
    if units.denominator != 1:
        raise BadInput(f"{label}: {amount} has more decimals than the token's {places}")
    return int(units)


# --- the owner -----------------------------------------------------------------------------------


async def owner_of(
    args: argparse.Namespace, w3: AsyncWeb3[Any], chain_id: int, vault: str | None, book: Book | None
) -> Owner:
    """The key (checked to be the vault's owner), or the Safe the calls are written for."""
    if args.calldata is not None:
        if vault is None:
            raise BadInput(
                "--calldata writes calls for the vault's owner: a new vault is deployed from a key"
            )
        if args.verb == "accept-owner":  # the Safe the vault was proposed to
            (proposed,) = await vault_view(w3, vault, "proposed_owner()", ["address"])
            if int(str(proposed), 16) == 0:
                raise BadInput(f"vault {vault} has no proposed owner: `vault propose-owner` first")
            return SafeOwner(checksum(str(proposed)), chain_id)
        return SafeOwner(await vault_owner(w3, vault), chain_id)
    fees = book.fees if book is not None else presets_fees(chain_id)
    owner: KeyOwner
    if args.account is not None and importlib.util.find_spec("ape") is not None:
        account = ape_account(args.account)
        given = args.password_file is not None or os.environ.get(args.password_env) is not None
        if given and hasattr(account, "set_autosign"):  # a password given: sign without ape's prompts
            account.set_autosign(True, passphrase=read_password(args.password_env, args.password_file))
        owner = ApeOwner(w3, cast(Any, None), chain_id, fees, ape_account=account)
    else:  # a keystore, --dev, or (without ape) the alias's keyfile read directly
        owner = KeyOwner(w3, options.load_key(args), chain_id, fees)
    if vault is not None and args.verb != "accept-owner":
        current = await vault_owner(w3, vault)
        if current != owner.address:
            raise BadInput(
                f"the key {owner.address} is not the owner of vault {vault} (its owner is {current})"
            )
    return owner


def ape_account(alias: str) -> Any:
    """An ape account by alias (a keyfile, or a hardware-wallet plugin's).

    Raises:
        BadInput: ape knows no such account.
    """
    from ape import accounts
    from ape.exceptions import AccountsError

    try:
        return accounts.load(alias)
    except (AccountsError, KeyError, IndexError):
        raise BadInput(f"no ape account {alias!r} (`ape accounts list` shows them)") from None


def presets_fees(chain_id: int) -> Any:
    """Fee settings for a chain without a book: the defaults, with the preset's confirmations."""
    from bot.core.book import FeePolicy

    try:
        return FeePolicy(confirmations=presets.chain(chain_id).confirmations)
    except BadInput:
        return FeePolicy()


# --- the verbs -------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, out: Callable[[str], None]) -> int:
    book = Book.load(args.config) if args.config is not None else None
    ends = endpoints.resolve(book, args.rpc)
    vault = (
        None
        if args.verb == "deploy"
        else address_arg(args.vault, "vault")
        if args.vault
        else book.vault
        if book
        else None
    )
    if args.verb != "deploy" and vault is None:
        raise BadInput("which vault? pass --vault ADDRESS or --config BOOK")
    precheck(args, book, vault)
    async with rpc.connect(ends.calls, book=book) as w3:
        chain_id = await chain_id_of(w3)
        if book is not None and book.chain_id is not None and book.chain_id != chain_id:
            raise BadInput(f"the RPC serves chain {chain_id}; the book is for chain {book.chain_id}")
        if args.verb == "show":
            assert vault is not None
            return await show(args, w3, vault, book, out)
        owner = await owner_of(args, w3, chain_id, vault, book)
        calls = await calls_for(args, w3, chain_id, vault, book, owner.address)
        created = None
        for done, call in enumerate(calls):
            try:
                created = await owner.send(call) or created
            except KeeperError as exc:
                if not done or isinstance(owner, SafeOwner):
                    raise
                raise KeeperError(f"{exc} (after {done} of {len(calls)} calls were sent and mined)") from None
        if created is not None and args.verb == "deploy" and args.guards:
            guards = parse_guards(args.guards)
            await owner.send(
                Call(created, owner_calls.set_guards(*guards), f"set the guards to {args.guards}")
            )
        if isinstance(owner, SafeOwner):
            if str(args.calldata) == "-":
                owner.write_to(sys.stdout, f"ammkeeper vault {args.verb}")
                return 0
            owner.write(args.calldata, f"ammkeeper vault {args.verb}")
            out(
                f"wrote {len(calls)} call(s) for the owner {owner.address} (chain {chain_id}) "
                f"to {args.calldata}: "
                "review them, then propose them in the Safe's Transaction Builder"
            )
        elif created is not None:
            keeper = checksum(args.keeper)
            out(f"vault {created} deployed on chain {chain_id}: owner {owner.address}, keeper {keeper}")
        else:
            out(f"done: {len(calls)} call(s) from {owner.address}")
    return 0


def precheck(args: argparse.Namespace, book: Book | None, vault: str | None) -> None:
    """What can be wrong with the arguments alone, said before the chain is asked anything."""
    calldata = getattr(args, "calldata", None)
    if calldata is not None and str(calldata) != "-" and calldata.exists():
        raise BadInput(f"--calldata {calldata} exists: a batch is never written over (or `-` for stdout)")
    for name in ("keeper", "owner", "to"):
        if isinstance(getattr(args, name, None), str):
            address = address_arg(getattr(args, name), "--to" if name == "to" else name)
            if int(address, 16) == 0:
                raise BadInput(f"{name} {address}: the zero address would lock the vault's {name}")
            if address == vault:
                raise BadInput(f"{name} {address} is the vault itself")
    if getattr(args, "guards", None):
        parse_guards(args.guards)
    if args.verb in ("deposit", "withdraw"):
        items(book, args.items)
    if args.verb in ("allow", "remove"):
        for name in args.pairs:
            resolve_item(book, name)


async def calls_for(
    args: argparse.Namespace,
    w3: AsyncWeb3[Any],
    chain_id: int,
    vault: str | None,
    book: Book | None,
    sender: str,
) -> list[Call]:
    verb = args.verb
    if verb == "deploy":
        keeper = address_arg(args.keeper, "keeper")
        calls = [
            Call(
                None,
                owner_calls.deploy(compiled("Executor").bytecode, keeper),
                f"deploy a vault (keeper {keeper})",
            )
        ]
        return calls
    assert vault is not None
    if verb == "set-keeper":
        keeper = address_arg(args.keeper, "keeper")
        return [Call(vault, owner_calls.set_keeper(keeper), f"set the keeper to {keeper}")]
    if verb == "pause":
        return [Call(vault, owner_calls.pause(), "pause the vault")]
    if verb == "unpause":
        return [Call(vault, owner_calls.unpause(), "unpause the vault")]
    if verb == "set-guards":
        g = parse_guards(args.guards)
        return [Call(vault, owner_calls.set_guards(*g), f"set the guards to {args.guards}")]
    if verb == "propose-owner":
        new = address_arg(args.owner, "owner")
        return [Call(vault, owner_calls.propose_owner(new), f"propose {new} as the owner")]
    if verb == "accept-owner":
        return [Call(vault, owner_calls.accept_ownership(), f"accept the ownership of {vault}")]
    if verb == "allow":
        return [await allow_call(args, w3, chain_id, vault, book, name) for name in args.pairs]
    if verb == "remove":
        pairs = {resolve_item(book, n)[0]: n for n in args.pairs}
        allowed = await pair_fees(w3, vault, list(pairs))
        for address, name in pairs.items():
            if allowed[address] is None:
                raise BadInput(f"{name} is not on vault {vault}'s allowlist: nothing to remove")
        return [Call(vault, owner_calls.remove_pair(a), f"remove {n}") for a, n in pairs.items()]
    if verb == "deposit":
        return await deposit_calls(w3, vault, items(book, args.items), sender)
    if verb == "withdraw":
        return await withdraw_calls(w3, vault, book, items(book, args.items))
    if verb == "migrate":
        return await migrate_calls(w3, vault, address_arg(args.to, "--to"), book, sender)
    raise BadInput(f"no such verb {verb!r}")


async def allow_call(
    args: argparse.Namespace, w3: AsyncWeb3[Any], chain_id: int, vault: str, book: Book | None, name: str
) -> Call:
    pair, label, _ = resolve_item(book, name)
    if book is not None and pair in book.pair_names:
        label = book.pair_names[pair]
    token0 = checksum(str((await view(w3, pair, "token0()", ["address"], what="a V2 pair"))[0]))
    token1 = checksum(str((await view(w3, pair, "token1()", ["address"], what="a V2 pair"))[0]))
    fee = args.fee_bps
    if fee is None and book is not None and pair in book.pair_names:
        fee = book.fee_bps(pair)
    if fee is None:
        factory = checksum(str((await view(w3, pair, "factory()", ["address"], what="a V2 pair"))[0]))
        try:
            known = [d for d in presets.dexes_on(chain_id) if d.factory == factory]
        except BadInput:
            known = []
        if not known:
            raise BadInput(
                f"the fee of pair {label} cannot be established: its factory {factory} is no preset DEX "
                f"of chain {chain_id} and no book names it; pass --fee-bps"
            )
        fee = known[0].fee_bps
    if not 0 <= fee < 10_000:
        raise BadInput(f"--fee-bps {fee}: a fee in basis points, below 10,000")
    fot = [args.fot0, args.fot1]
    if book is not None:
        by_address = {t.address: t for t in book.tokens.values()}
        fot = [
            fot[i] or bool(t in by_address and by_address[t].transfer_fee_bps)
            for i, t in enumerate((token0, token1))
        ]
    return Call(vault, owner_calls.allow_pair(pair, fee, *fot), f"allow {label} ({fee} bps)")


def _once(wanted: list[tuple[str, str, bool, Decimal | None]]) -> None:
    """Each token at most once: two lines of one token would each pass a balance check the two
    together fail, after the first was sent."""
    seen: set[str] = set()
    for token, label, _, _ in wanted:
        if token in seen:
            raise BadInput(f"{label} is named twice: name it once, with the whole amount")
        seen.add(token)


async def deposit_calls(
    w3: AsyncWeb3[Any], vault: str, wanted: list[tuple[str, str, bool, Decimal | None]], sender: str
) -> list[Call]:
    if not wanted:
        raise BadInput("deposit what? give ITEM=AMOUNT (e.g. WETH=1.5, WETH/USDC=all)")
    _once(wanted)
    calls = []
    for token, label, lp, amount in wanted:  # every amount checked before anything is sent
        places = LP_DECIMALS if lp else await erc20.decimals(w3, token)
        held = await erc20.balance_of(w3, token, sender)
        units = held if amount is None else await base_units(w3, token, lp, amount, label)
        if units == 0 or units > held:
            raise BadInput(
                f"{label}: the owner {sender} holds {amount_text(held, places)}, not {amount or 'any'}"
            )
        shown = f"{amount_text(units, places)} {label}"
        calls += [
            Call(token, owner_calls.approve(vault, units), f"approve {shown} to the vault"),
            Call(vault, owner_calls.deposit(token, units), f"deposit {shown}"),
        ]
    return calls


async def withdraw_calls(
    w3: AsyncWeb3[Any], vault: str, book: Book | None, wanted: list[tuple[str, str, bool, Decimal | None]]
) -> list[Call]:
    if not wanted:
        if book is None:
            raise BadInput(
                "withdraw what? give ITEM=AMOUNT or ITEM=all (or --config BOOK: everything it names)"
            )
        wanted = [(t.address, s, False, None) for s, t in book.tokens.items()]
        wanted += [(a, f"{n} LP", True, None) for n, a in book.pairs.items()]
    _once(wanted)
    calls = []
    for token, label, lp, amount in wanted:  # every amount checked before anything is sent
        held = await erc20.balance_of(w3, token, vault)
        units = held if amount is None else await base_units(w3, token, lp, amount, label)
        if amount is None and held == 0:
            continue
        places = LP_DECIMALS if lp else await erc20.decimals(w3, token)
        if units > held:
            raise BadInput(f"{label}: the vault holds {amount_text(held, places)}, less than {amount}")
        calls.append(
            Call(vault, owner_calls.withdraw(token, units), f"withdraw {amount_text(units, places)} {label}")
        )
    if not calls:
        raise BadInput("the vault holds none of it: nothing to withdraw")
    return calls


async def migrate_calls(w3: AsyncWeb3[Any], old: str, new: str, book: Book | None, sender: str) -> list[Call]:
    if book is None:
        raise BadInput("migrate moves what the book names: pass --config BOOK")
    if new == old:
        raise BadInput(f"--to {new} is the vault itself: migrate moves to another vault")
    if await vault_owner(w3, new) != sender:
        raise BadInput(f"the new vault {new} is not the owner {sender}'s")
    calls = []
    fees = await pair_fees(w3, old, list(book.pairs.values()))
    there = await pair_fees(w3, new, list(book.pairs.values()))
    for address, fee in fees.items():
        if fee is not None and there[address] is None:
            calls.append(
                Call(
                    new,
                    owner_calls.allow_pair(address, fee),
                    f"allow {book.pair_names[address]} ({fee} bps) in the new vault",
                )
            )
    assets = [(t.address, s) for s, t in book.tokens.items()] + [
        (a, f"{n} LP") for n, a in book.pairs.items()
    ]
    fee_bps = {t.address: t.transfer_fee_bps for t in book.tokens.values()}
    for token, label in assets:
        held = await erc20.balance_of(w3, token, old)
        if held:
            # a fee-on-transfer token reaches the owner short by its fee: what arrives moves on
            arrives = held - held * fee_bps.get(token, 0) // 10_000
            calls += [
                Call(old, owner_calls.withdraw(token, held), f"withdraw {label} from the old vault"),
                Call(token, owner_calls.approve(new, arrives), f"approve {label} to the new vault"),
                Call(new, owner_calls.deposit(token, arrives), f"deposit {label} into the new vault"),
            ]
    return calls


async def show(
    args: argparse.Namespace, w3: AsyncWeb3[Any], vault: str, book: Book | None, out: Callable[[str], None]
) -> int:
    owner = await vault_owner(w3, vault)
    (keeper,) = await vault_view(w3, vault, "keeper()", ["address"])
    (paused,) = await vault_view(w3, vault, "paused()", ["bool"])
    (proposed,) = await vault_view(w3, vault, "proposed_owner()", ["address"])
    guards = await vault_view(w3, vault, "guards()", ["uint256"] * 4)
    report: dict[str, Any] = {
        "vault": vault, "owner": owner, "keeper": checksum(str(keeper)), "paused": bool(paused),
        "proposed_owner": None if int(str(proposed), 16) == 0 else checksum(str(proposed)),
        "guards": dict(zip(GUARD_NAMES, (int(g) for g in guards), strict=True)),
    }  # fmt: skip
    if book is not None:
        fees = await pair_fees(w3, vault, list(book.pairs.values()))
        report["allowlist"] = {book.pair_names[a]: f for a, f in fees.items() if f is not None}
        balances = {}
        for symbol, token in book.tokens.items():
            held = await erc20.balance_of(w3, token.address, vault)
            balances[symbol] = amount_text(held, await erc20.decimals(w3, token.address))
        for name, pair in book.pairs.items():
            balances[f"{name} LP"] = amount_text(await erc20.balance_of(w3, pair, vault), LP_DECIMALS)
        report["balances"] = balances
    if args.json:
        out(json.dumps(report, indent=2))
        return 0
    out(f"vault {vault}: owner {owner}, keeper {report['keeper']}, {'PAUSED' if paused else 'not paused'}")
    if report["proposed_owner"]:
        out(f"  proposed owner: {report['proposed_owner']} (not yet accepted)")
    g = report["guards"]
    out(
        "  guards: off" if not any(g.values()) else "  guards: " + ", ".join(f"{k} {v}" for k, v in g.items())
    )
    for name, fee in report.get("allowlist", {}).items():
        out(f"  allowed: {name} ({fee} bps)")
    for name, amount in report.get("balances", {}).items():
        if amount != "0":
            out(f"  holds: {amount} {name}")
    return 0


def command(args: argparse.Namespace) -> int:
    return asyncio.run(run(args, print))
