// An update that awaits a call to itself, forever: the call storm of issue 11 (item 5).
persistent actor Storm {
  var depth : Nat = 0;

  public func recurse() : async Nat {
    depth += 1;
    await recurse()
  };

  public query func get() : async Nat { depth };
};
