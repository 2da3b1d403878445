// An incompatible upgrade: the stable variable changes type, so Motoko refuses it.
persistent actor Counter {
  var count : Text = "";

  public query func get() : async Text {
    count
  };
};
