// A counter: the smallest useful canister. `inc` is an update (it changes state), `get` a query.
persistent actor Counter {
  var count : Nat = 0;

  public func inc() : async Nat {
    count += 1;
    count
  };

  public query func get() : async Nat {
    count
  };
};
