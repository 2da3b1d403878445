// Counter, version 2: same stable state, one more method.
persistent actor Counter {
  var count : Nat = 0;

  public func inc() : async Nat {
    count += 1;
    count
  };

  public func add(n : Nat) : async Nat {
    count += n;
    count
  };

  public query func get() : async Nat {
    count
  };
};
