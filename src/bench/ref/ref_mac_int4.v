// Hand-written reference for the efficient PE (docs/ppa.md, "PE area against references"):
// an int4 x int4 multiply-accumulate with the generated PE's ports, written the textbook way
// for synthesis, independently of the generator's templates. PSUM is the partial-sum width.
`default_nettype none
module ref_mac_int4 #(parameter PSUM = 16) (
    input  wire            clk,
    input  wire            rst,
    input  wire [4:0]      act_in,
    input  wire [PSUM-1:0] psum_in,
    input  wire [3:0]      weight0,
    input  wire [3:0]      weight1,
    output reg  [4:0]      act_out,
    output reg  [PSUM-1:0] psum_out
);
    wire [3:0] w = act_in[4] ? weight1 : weight0;
    wire signed [7:0] p = $signed(act_in[3:0]) * $signed(w);
    always @(posedge clk) begin
        if (rst) begin
            act_out <= 5'd0;
            psum_out <= {PSUM{1'b0}};
        end else begin
            act_out <= act_in;
            psum_out <= psum_in + {{(PSUM-8){p[7]}}, p};
        end
    end
endmodule
`default_nettype wire
