// A test canister exercising the VM's semantics: traps, mutating queries, self calls, timers.
import Array "mo:core/Array";
import Principal "mo:core/Principal";
import Random "mo:core/Random";
import Runtime "mo:core/Runtime";
import Timer "mo:core/Timer";

persistent actor Lab {
  var count : Nat = 0;
  var log : Text = "";
  var ticks : Nat = 0;

  // Ingress filter: oversized arguments are refused before any update runs.
  system func inspect({ arg : Blob }) : Bool {
    arg.size() <= 64
  };

  public func inc() : async Nat {
    count += 1;
    count
  };

  public query func get() : async Nat {
    count
  };

  // Changes state, then traps: the whole update must be undone.
  public func incThenTrap() : async Nat {
    count += 1000;
    log := log # "should-vanish;";
    Runtime.trap("deliberate trap after changing state")
  };

  // Makes a call, then traps: the call must never be delivered.
  public func callThenTrap() : async () {
    ignore inc();
    Runtime.trap("trap after making a call");
  };

  // A query that mutates: the change must be discarded.
  public query func sneaky() : async Nat {
    count += 100;
    count
  };

  public query func getLog() : async Text {
    log
  };

  // Several awaits on calls to itself: each is a message and a commit point of its own.
  public func chain(n : Nat) : async Nat {
    var i = 0;
    while (i < n) {
      ignore await inc();
      log := log # "step;";
      i += 1;
    };
    count
  };

  // The timer: after `seconds`, `ticks` goes up by one.
  public func schedule(seconds : Nat) : async () {
    ignore Timer.setTimer<system>(#seconds seconds, func() : async () { ticks += 1 });
  };

  public query func getTicks() : async Nat {
    ticks
  };

  var beats : Nat = 0;
  system func heartbeat() : async () { beats += 1 };

  public query func getBeats() : async Nat {
    beats
  };

  // Allocates enough to grow the heap, then (optionally) traps: the growth must not survive.
  public query func bigQuery(n : Nat) : async Nat {
    let a = Array.tabulate<Nat>(n, func i = i);
    count += 1;
    a.size()
  };

  public func bigThenTrap(n : Nat) : async Nat {
    let a = Array.tabulate<Nat>(n, func i = i);
    count += a.size();
    Runtime.trap("trap after growing the heap")
  };

  // Randomness from the management canister (raw_rand): deterministic on the VM, fresh per message.
  public func dice() : async Blob {
    await Random.blob()
  };

  // The management canister's canister_status, asked about itself.
  type Status = { cycles : Nat; memory_size : Nat; module_hash : ?Blob; status : { #running; #stopping; #stopped } };
  let ic = actor "aaaaa-aa" : actor { canister_status : { canister_id : Principal } -> async Status };

  public func myStatus() : async (Nat, Bool) {
    let s = await ic.canister_status({ canister_id = Principal.fromActor(Lab) });
    (s.cycles, s.status == #running and s.memory_size > 0 and s.module_hash != null)
  };

  public func burn(n : Nat) : async Nat {
    var i = 0;
    var acc = 0;
    while (i < n) { acc += i; i += 1 };
    acc
  };
};
