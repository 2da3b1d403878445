// Inter-canister calls: forwards to a counter canister given by principal text.
import Principal "mo:core/Principal";

persistent actor Caller {
  type CounterApi = actor { inc : () -> async Nat; get : query () -> async Nat };

  public func bumpTwice(target : Principal) : async Nat {
    let c : CounterApi = actor (Principal.toText(target));
    ignore await c.inc();
    await c.inc()
  };

  // A query method of another canister, called from an update (replicated execution).
  public func readVia(target : Principal) : async Nat {
    let c : CounterApi = actor (Principal.toText(target));
    await c.get()
  };

  // A composite query: awaits query methods of another canister, answers without changing anything.
  public composite query func sumVia(target : Principal) : async Nat {
    let c : CounterApi = actor (Principal.toText(target));
    let a = await c.get();
    let b = await c.get();
    a + b
  };

  public func callMissing(target : Principal) : async Text {
    let c : actor { nothere : () -> async Nat } = actor (Principal.toText(target));
    try { ignore await c.nothere(); "no error" } catch (e) { "caught" }
  };
};
